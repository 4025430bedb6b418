"""AMPD annual unit files as early-warning subjects: one subject per unit (``unit:<ORISPL>/<unit id>``,
sector ``power/coal`` or ``power/gas``), one annual figure per year the unit is covered.

Figures are the ledger's own (``ledger.datasets.ampd.build_population``): kgCO2 = heat input ×
the OGE fuel factor, as EmissionsRegistry.recordDeclared computes them; output = the file's gross
load (MWh). A unit excluded from a year's population (other fuel, blank or zero heat input or
load) has no figure for that year, and the rules say so. AMPD files are annual: the missing-month
rule is not evaluable for them, and they carry no meter stream (the stream rules are not
evaluable either).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ledger.alerts.checks import PeriodFigure, Subject
from ledger.datasets.ampd import Exclusion, Population, build_population

AMPD_ANNUAL_ONLY = "AMPD annual unit files carry annual totals only: no minute or hourly meter stream"


@dataclass(frozen=True)
class AmpdYear:
    """One AMPD annual file and its population."""

    year: int
    path: Path
    population: Population


def load_years(paths: Sequence[Path], factors_path: Path) -> list[AmpdYear]:
    """Each file's population (covered units with the ledger's emissions). Raises AmpdFormatError."""
    out = []
    for p in paths:
        pop = build_population(p, factors_path)
        years = {u.unit.year for u in pop.units} | {u.year for u, _ in pop.excluded}
        if len(years) != 1:
            raise ValueError(f"{p}: rows of several years {sorted(years)}; one file a year")
        out.append(AmpdYear(years.pop(), p, pop))
    return sorted(out, key=lambda y: y.year)


def subjects(years: Sequence[AmpdYear], review_year: int) -> list[Subject]:
    """One :class:`Subject` per unit covered in ``review_year`` (with its figure of the year before, if
    covered then).

    The review year's figures are judged (absolute, intensity) and compared with the year before
    (same period). Evidence per figure: file, line, the file's CO2 (short tons) beside the ledger's
    kgCO2. Units not covered in the review year are not subjects; a unit excluded from the year
    before keeps the exclusion reason in its evidence.
    """
    figures: dict[str, list[PeriodFigure]] = {}
    sector: dict[str, str] = {}
    excluded: dict[str, dict[str, str]] = {}
    relevant = {review_year, review_year - 1}
    for y in years:
        if y.year not in relevant:
            continue
        for u in y.population.units:
            key = f"unit:{u.key}"
            sector.setdefault(key, f"power/{u.category}")
            ev = {"file": y.path.name, "line": u.unit.line, "facility": u.unit.facility, "state": u.unit.state,
                  "file_co2_short_tons": str(u.unit.co2_short_tons), "heat_input_mmbtu": str(u.unit.heat_input_mmbtu),
                  "fuel": u.unit.primary_fuel}
            figures.setdefault(key, []).append(PeriodFigure(
                key, f"power/{u.category}", str(y.year), u.emissions_kg,
                Decimal(u.unit.gross_load_mwh or 0), True, "heat input × OGE factor (EmissionsRegistry.recordDeclared)", ev))
        for u, why in y.population.excluded:
            excluded.setdefault(f"unit:{u.key}", {})[str(y.year)] = f"{Exclusion(why).value} (line {u.line})"
    out = []
    for key in sorted(figures):
        if not any(f.period == str(review_year) for f in figures[key]):
            continue
        evid = {"excluded": excluded[key]} if key in excluded else {}
        out.append(Subject(key, sector[key], 0, sorted(figures[key], key=lambda f: f.period), None, None, None,
                           AMPD_ANNUAL_ONLY, evid, {str(review_year)}))
    return out
