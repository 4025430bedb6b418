"""US EPA AMPD annual unit data as the population of a compliance-year simulation.

Each AMPD generating unit becomes one simulated key emitting enterprise (重点排放单位):

* fuel: the committed table ``ledger/data/ampd_fuel_map.csv`` maps the AMPD primary-fuel
  string (the first fuel of a two-fuel string decides) to an energy source code of the OGE
  factor table (``../shared/data/emission_factors/oge_emission_factors_for_co2_ch4_n2o.csv``,
  singularity-energy/open-grid-emissions @ 4ac110c8, EPA 2009 / IPCC values) and to a
  benchmark category ``coal`` / ``gas`` / ``excluded``; its ``assumption`` column states each
  assumption;
* emissions = heat input (MMBtu) × co2_tons_per_mmbtu (short t/MMBtu) × 0.90718474 t per short
  ton, computed exactly as the chain does (EmissionsRegistry.recordDeclared, FuelCombustion):
  heat input in integer MJ = ⌊MMBtu × 1055.05585262 + ½⌋ (1 Btu = 1055.05585262 J, the
  International Table Btu) and the factor in kgCO2/GJ × 1e6 = ⌊short t/MMBtu × 907.18474 ÷
  1.05505585262 × 1e6 + ½⌋; kgCO2 = ⌊MJ × F / 10^9 + ½⌋ (``ledger.accounting.emissions.fuel_emissions_kg``).
  The two integer roundings move a unit's figure by at most 0.5 MJ × F + GJ × 0.5e-6 kg
  (< 30 kg for the largest AMPD unit) from the exact decimal product (:func:`emissions_kg_exact`);
* allocation = gross load (MWh, taken as electricity supplied, in Wh on-chain) × supply
  benchmark, whole tonnes half up (``ledger.accounting.compliance.allocation_tonnes``, as Allocation.sol),
  with the 2019–2020 benchmarks 0.877 (300MW等级以上常规燃煤机组) and 0.392 (燃气机组) tCO2/MWh
  (国环规气候〔2020〕3号, china_rules.md §3a: PARTIAL — draft values confirmed, final values
  inferred unchanged; AMPD has no capacity column, so every coal unit takes the >300MW
  benchmark; correction factors UNCONFIRMED → 1);
* excluded and counted: other fuels, blank heat input, zero heat input, blank or zero gross load.

The loader keeps each unit's file line, parses the file's quirks (spaces after commas,
scientific notation such as ``1.09E+07``, a missing final newline) and raises
:class:`AmpdFormatError` naming the line for anything it cannot read.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from enum import StrEnum
from pathlib import Path

from ledger.accounting.compliance import BENCHMARKS_2019_2020, FACTOR_SCALE, allocation_tonnes
from ledger.accounting.emissions import fuel_emissions_kg, whole_tonnes_half_up
from ledger.crypto.primitives import keccak256
from ledger.identifiers import USCC_ALPHABET, make_uscc

FUEL_MAP_PATH = Path(__file__).resolve().parent / "data" / "ampd_fuel_map.csv"
"""The committed AMPD fuel → OGE code / benchmark category table."""

KG_PER_SHORT_TON = Decimal("907.18474")
"""1 short ton = 2,000 lb × 0.45359237 kg (international avoirdupois pound, exact)."""

MJ_PER_MMBTU = Decimal("1055.05585262")
"""1 MMBtu in MJ: 1 Btu (International Table) = 1055.05585262 J (NIST SP 811, appendix B.9)."""

CATEGORY_BENCHMARK = {"coal": "COAL_GT300", "gas": "GAS"}
"""Benchmark category (Allocation.sol / ledger.accounting.compliance) of each simulation category: every
coal unit is taken as 300MW等级以上常规燃煤机组 (AMPD has no capacity column), gas units as 燃气机组."""

BENCHMARK_T_PER_MWH: dict[str, str] = {
    cat: next(b.supply_t_per_mwh for b in BENCHMARKS_2019_2020.benchmarks if b.category == CATEGORY_BENCHMARK[cat])
    for cat in CATEGORY_BENCHMARK}
"""2019–2020 supply benchmarks, tCO2/MWh: coal 0.877, gas 0.392 (国环规气候〔2020〕3号; china_rules.md
§3a, PARTIAL: ICAP's table of the Nov 2020 draft, final plan inferred unchanged), read from the
``ledger.accounting.compliance.BENCHMARKS_2019_2020`` preset the chain is given."""

BENCHMARK_SOURCE = ("国环规气候〔2020〕3号《2019-2020年全国碳排放权交易配额总量设定与分配实施方案(发电行业)》 "
                    "supply benchmarks (china_rules.md §3a, PARTIAL)")

REQUIRED_COLUMNS = ("State", "Facility Name", "Facility ID (ORISPL)", "Unit ID", "Year", "Gross Load (MW-h)",
                    "CO2 (short tons)", "Heat Input (MMBtu)", "Fuel Type (Primary)")


class AmpdFormatError(ValueError):
    """The AMPD file (or the fuel map / factor table) cannot be read; the message names the line."""


class Exclusion(StrEnum):
    """Why an AMPD unit is not part of the simulated population (first failing check wins,
    in this order)."""

    OTHER_FUEL = "other_fuel"  # fuel mapped to category "excluded"
    UNMAPPED_FUEL = "unmapped_fuel"  # fuel string absent from the fuel map
    BLANK_HEAT_INPUT = "blank_heat_input"
    ZERO_HEAT_INPUT = "zero_heat_input"
    BLANK_GROSS_LOAD = "blank_gross_load"
    ZERO_LOAD = "zero_load"


@dataclass(frozen=True)
class FuelMapping:
    """One row of ``ampd_fuel_map.csv``."""

    ampd_fuel: str
    first_fuel: str
    energy_source_code: str  # OGE code, "" when none applies
    category: str  # coal | gas | excluded
    assumption: str


@dataclass(frozen=True)
class AmpdUnit:
    """One row of the AMPD annual unit file, typed.

    Attributes:
        line: physical line of the file where the row starts (the header is line 1).
        orispl: EIA/ORIS plant code; ``unit_id`` the unit's id within the plant.
        gross_load_mwh, heat_input_mmbtu, co2_short_tons: None where the file is blank.
    """

    line: int
    state: str
    facility: str
    orispl: int
    unit_id: str
    year: int
    gross_load_mwh: Decimal | None
    heat_input_mmbtu: Decimal | None
    co2_short_tons: Decimal | None
    primary_fuel: str
    secondary_fuel: str
    unit_type: str
    operating_status: str

    @property
    def key(self) -> str:
        """``"<ORISPL>/<unit id>"``, unique in a file."""
        return f"{self.orispl}/{self.unit_id}"


@dataclass(frozen=True)
class SimUnit:
    """A covered unit: one simulated enterprise.

    Attributes:
        unit: the AMPD row.
        mapping: its fuel-map row (category coal or gas).
        factor_short_t_per_mmbtu: OGE co2_tons_per_mmbtu of the mapped code.
        heat_input_mj: declared fuel heat input, MJ; electricity_wh: declared electricity supplied, Wh.
        factor_scaled: the chain's fuel factor, kgCO2/GJ × 1e6.
        emissions_kg: kgCO2 as the chain computes it (see module docstring).
        allocation_t: final allocation, whole tCO2e, as the chain computes it.
    """

    unit: AmpdUnit
    mapping: FuelMapping
    factor_short_t_per_mmbtu: Decimal
    heat_input_mj: int
    electricity_wh: int
    factor_scaled: int
    emissions_kg: int
    allocation_t: int

    @property
    def key(self) -> str:
        """The unit's key (ORISPL/unit id)."""
        return self.unit.key

    @property
    def emissions_t(self) -> int:
        """Emissions in whole tonnes, half up (DESIGN.md §5)."""
        return whole_tonnes_half_up(self.emissions_kg)

    @property
    def category(self) -> str:
        """``coal`` or ``gas`` (its fuel-map row)."""
        return self.mapping.category

    @property
    def file_co2_t(self) -> Decimal | None:
        """The file's own CO2 figure converted to tonnes (short tons × 0.90718474)."""
        c = self.unit.co2_short_tons
        return None if c is None else c * KG_PER_SHORT_TON / 1_000


def simulation_uscc(orispl: int, unit_id: str) -> str:
    """A syntactically valid USCC (GB 32100-2015) derived deterministically from a unit's identity.

    Simulation identities, NOT real codes: authority 9 / type 1 (enterprise); the 6-digit
    division field is the ORISPL zero-padded (≤ 999999; no real Chinese division code starts
    with 0, and ORISPL < 100000 always does); the 8-character organisation body is the first
    8 base-31 digits of keccak256("ampd unit" ‖ ORISPL ‖ "/" ‖ unit id); both check characters
    are computed.

    Raises:
        ValueError: if ``orispl`` is not in 0…999999.
    """
    if not 0 <= orispl <= 999_999:
        raise ValueError(f"ORISPL {orispl} does not fit the 6-digit division field")
    n = int.from_bytes(keccak256(f"ampd unit{orispl}/{unit_id}".encode()), "big")
    body = ""
    for _ in range(8):
        n, d = divmod(n, len(USCC_ALPHABET))
        body += USCC_ALPHABET[d]
    return make_uscc("9", "1", f"{orispl:06d}", body)


# ---------------------------------------------------------------------- tables
def load_fuel_map(path: Path = FUEL_MAP_PATH) -> dict[str, FuelMapping]:
    """Read ``ampd_fuel_map.csv`` → {AMPD primary-fuel string: mapping}.

    Raises:
        AmpdFormatError: unknown category, a coal/gas row without an energy source code,
            or a duplicated fuel string.
    """
    out: dict[str, FuelMapping] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            m = FuelMapping(row["ampd_primary_fuel"].strip(), row["first_fuel"].strip(), row["energy_source_code"].strip(),
                            row["category"].strip(), row["assumption"].strip())
            if m.category not in ("coal", "gas", "excluded"):
                raise AmpdFormatError(f"{path}:{i}: category must be coal, gas or excluded, got {m.category!r}")
            if m.category != "excluded" and not m.energy_source_code:
                raise AmpdFormatError(f"{path}:{i}: covered fuel {m.ampd_fuel!r} needs an energy source code")
            if m.ampd_fuel in out:
                raise AmpdFormatError(f"{path}:{i}: fuel {m.ampd_fuel!r} appears twice")
            out[m.ampd_fuel] = m
    return out


def load_oge_factors(path: Path) -> dict[str, Decimal]:
    """Read the OGE factor table → {energy_source_code: co2_tons_per_mmbtu (short t CO2 / MMBtu)}.

    Raises:
        AmpdFormatError: missing columns or an unreadable factor (line named).
    """
    out: dict[str, Decimal] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, skipinitialspace=True)
        if not reader.fieldnames or not {"energy_source_code", "co2_tons_per_mmbtu"} <= set(reader.fieldnames):
            raise AmpdFormatError(f"{path}: needs columns energy_source_code and co2_tons_per_mmbtu")
        for row in reader:
            code = row["energy_source_code"].strip()
            try:
                out[code] = Decimal(row["co2_tons_per_mmbtu"].strip())
            except InvalidOperation:
                raise AmpdFormatError(f"{path}:{reader.line_num}: bad co2_tons_per_mmbtu "
                                      f"{row['co2_tons_per_mmbtu']!r}") from None
    return out


# ---------------------------------------------------------------------- AMPD rows
def _number(text: str, column: str, where: str) -> Decimal | None:
    t = text.strip()
    if t == "" or t.lower() == "blank":
        return None
    try:
        d = Decimal(t)
    except InvalidOperation:
        raise AmpdFormatError(f"{where}: {column} {text!r} is not a number") from None
    if not d.is_finite() or d < 0:
        raise AmpdFormatError(f"{where}: {column} {text!r} must be a finite number ≥ 0")
    return d


def read_ampd(path: Path) -> Iterator[AmpdUnit]:
    """Yield the typed rows of an AMPD annual unit file, in file order.

    Raises:
        AmpdFormatError: a required column is missing, a row has the wrong number of fields,
            a number cannot be parsed or is negative, or a unit appears twice.
    """
    seen: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, skipinitialspace=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise AmpdFormatError(f"{path}: empty file") from None
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise AmpdFormatError(f"{path}: missing columns {missing}")
        ix = {c: header.index(c) for c in header}

        def get(row: list[str], col: str) -> str:
            return row[ix[col]].strip() if col in ix else ""

        line = reader.line_num + 1
        for row in reader:
            where = f"{path.name}:{line}"
            if not any(c.strip() for c in row):
                line = reader.line_num + 1
                continue
            if len(row) != len(header):
                raise AmpdFormatError(f"{where}: {len(row)} fields, the header has {len(header)}")
            try:
                orispl, year = int(get(row, "Facility ID (ORISPL)")), int(get(row, "Year"))
            except ValueError:
                raise AmpdFormatError(f"{where}: ORISPL and Year must be integers") from None
            unit = AmpdUnit(
                line=line, state=get(row, "State"), facility=get(row, "Facility Name"), orispl=orispl,
                unit_id=get(row, "Unit ID"), year=year,
                gross_load_mwh=_number(get(row, "Gross Load (MW-h)"), "Gross Load (MW-h)", where),
                heat_input_mmbtu=_number(get(row, "Heat Input (MMBtu)"), "Heat Input (MMBtu)", where),
                co2_short_tons=_number(get(row, "CO2 (short tons)"), "CO2 (short tons)", where),
                primary_fuel=get(row, "Fuel Type (Primary)"), secondary_fuel=get(row, "Fuel Type (Secondary)"),
                unit_type=get(row, "Unit Type"), operating_status=get(row, "Operating Status"))
            if not unit.unit_id:
                raise AmpdFormatError(f"{where}: blank Unit ID")
            if unit.key in seen:
                raise AmpdFormatError(f"{where}: unit {unit.key} already on line {seen[unit.key]}")
            seen[unit.key] = line
            yield unit
            line = reader.line_num + 1


# ---------------------------------------------------------------------- formulas
def _half_up(what: str, *inputs: Decimal, times: Decimal | int = 1, per: Decimal | int = 1) -> int:
    """⌊Π inputs × times ÷ per + ½⌋ in exact decimals (60 significant digits, one rounding).

    Raises:
        ValueError: ``"<what> must be >= 0"`` if an input is negative.
    """
    if any(x < 0 for x in inputs):
        raise ValueError(f"{what} must be >= 0")
    with localcontext() as ctx:
        ctx.prec = 60
        return int((math.prod(inputs, start=Decimal(1)) * times / per).to_integral_value(rounding=ROUND_HALF_UP))


def heat_input_mj(heat_input_mmbtu: Decimal) -> int:
    """Fuel heat input in whole MJ: ⌊MMBtu × 1055.05585262 + ½⌋.

    Raises:
        ValueError: on a negative heat input.
    """
    return _half_up("heat input", heat_input_mmbtu, times=MJ_PER_MMBTU)


def fuel_factor_scaled(short_t_per_mmbtu: Decimal) -> int:
    """OGE factor (short t CO2/MMBtu) as the chain's fuel factor, kgCO2/GJ × 1e6:
    ⌊f × 907.18474 ÷ 1.05505585262 × 10^6 + ½⌋ (e.g. NG 0.05844 → 50,249,355).

    Raises:
        ValueError: on a negative factor.
    """
    return _half_up("factor", short_t_per_mmbtu, times=KG_PER_SHORT_TON * 1_000 * FACTOR_SCALE, per=MJ_PER_MMBTU)


def emissions_kg(heat_input_mmbtu: Decimal, factor_short_t_per_mmbtu: Decimal) -> int:
    """kgCO2 as the chain computes it from the declared heat input and the published factor:
    ``fuel_emissions_kg(heat_input_mj(hi), fuel_factor_scaled(f))`` = ⌊MJ × F / 10^9 + ½⌋.

    Raises:
        ValueError: on a negative argument.
    """
    return fuel_emissions_kg(heat_input_mj(heat_input_mmbtu), fuel_factor_scaled(factor_short_t_per_mmbtu))


def emissions_kg_exact(heat_input_mmbtu: Decimal, factor_short_t_per_mmbtu: Decimal) -> int:
    """kgCO2 = ⌊heat input × factor × 907.18474 + ½⌋ in exact decimals (reference for the chain form).

    Raises:
        ValueError: on a negative argument.
    """
    return _half_up("heat input and factor", heat_input_mmbtu, factor_short_t_per_mmbtu, times=KG_PER_SHORT_TON)


def electricity_wh(gross_load_mwh: Decimal) -> int:
    """Gross load (taken as electricity supplied) in whole Wh: ⌊MWh × 10^6 + ½⌋ (exact for the
    file's ≤ 2 decimals).

    Raises:
        ValueError: on a negative load.
    """
    return _half_up("gross load", gross_load_mwh, times=1_000_000)


def allocation_t(gross_load_mwh: Decimal, category: str) -> int:
    """Final allocation in whole tCO2e: Allocation.allocationTonnes(Wh, 0, benchmark, 0, 1.0)
    = ⌊Wh × B × C / 10^18 + ½⌋ with B = :data:`BENCHMARK_T_PER_MWH` × 1e6 and correction 1
    (2019–2020 correction factors UNCONFIRMED, china_rules.md §3a).

    Raises:
        KeyError: for a category other than coal or gas.
        ValueError: on a negative load.
    """
    b = int(Decimal(BENCHMARK_T_PER_MWH[category]) * FACTOR_SCALE)
    return allocation_tonnes(electricity_wh(gross_load_mwh), 0, b, 0, FACTOR_SCALE)


# ---------------------------------------------------------------------- population
@dataclass
class Population:
    """The covered units of an AMPD file and what was excluded, with counts by reason."""

    units: list[SimUnit]
    excluded: list[tuple[AmpdUnit, Exclusion]]
    rows: int
    fuel_counts: Counter[str] = field(default_factory=Counter)

    @property
    def excluded_counts(self) -> dict[str, int]:
        """{exclusion reason: units}, every reason listed (zero included)."""
        c = Counter(r.value for _, r in self.excluded)
        return {r.value: c.get(r.value, 0) for r in Exclusion}

    def sliced(self, n: int | None) -> Population:
        """The first ``n`` covered units (file order); exclusions are kept as counted."""
        if n is None:
            return self
        if n < 0:
            raise ValueError(f"--units must be >= 0, got {n}")
        return Population(self.units[:n], self.excluded, self.rows, self.fuel_counts)

    def compare_with_file(self) -> EmissionsComparison:
        """Computed emissions vs the file's own CO2 column (see :class:`EmissionsComparison`)."""
        return EmissionsComparison.of(self.units)


def build_population(ampd_path: Path, factors_path: Path, fuel_map: dict[str, FuelMapping] | None = None) -> Population:
    """Load an AMPD file and turn it into covered units (emissions, allocation) and exclusions.

    Args:
        ampd_path: AMPD annual unit CSV (e.g. ``../shared/data/cems/ampd_annual_unit_2016.csv``).
        factors_path: OGE factor table (``../shared/data/emission_factors/
            oge_emission_factors_for_co2_ch4_n2o.csv``).
        fuel_map: defaults to the committed ``ledger/data/ampd_fuel_map.csv``.

    Raises:
        AmpdFormatError: unreadable input, or a covered fuel whose code is not in the factor table.
    """
    fuel_map = load_fuel_map() if fuel_map is None else fuel_map
    factors = load_oge_factors(factors_path)
    for m in fuel_map.values():
        if m.category != "excluded" and m.energy_source_code not in factors:
            raise AmpdFormatError(f"fuel map code {m.energy_source_code!r} ({m.ampd_fuel}) is not in {factors_path}")
    units: list[SimUnit] = []
    excluded: list[tuple[AmpdUnit, Exclusion]] = []
    fuels: Counter[str] = Counter()
    rows = 0
    for u in read_ampd(ampd_path):
        rows += 1
        fuels[u.primary_fuel] += 1
        m = fuel_map.get(u.primary_fuel)
        reason = _exclusion(u, m)
        if reason is not None:
            excluded.append((u, reason))
            continue
        assert m is not None and u.heat_input_mmbtu is not None and u.gross_load_mwh is not None
        f = factors[m.energy_source_code]
        mj, fs = heat_input_mj(u.heat_input_mmbtu), fuel_factor_scaled(f)
        units.append(SimUnit(u, m, f, mj, electricity_wh(u.gross_load_mwh), fs, fuel_emissions_kg(mj, fs),
                             allocation_t(u.gross_load_mwh, m.category)))
    return Population(units, excluded, rows, fuels)


def _exclusion(u: AmpdUnit, m: FuelMapping | None) -> Exclusion | None:
    if m is None:
        return Exclusion.UNMAPPED_FUEL
    if m.category == "excluded":
        return Exclusion.OTHER_FUEL
    if u.heat_input_mmbtu is None:
        return Exclusion.BLANK_HEAT_INPUT
    if u.heat_input_mmbtu == 0:
        return Exclusion.ZERO_HEAT_INPUT
    if u.gross_load_mwh is None:
        return Exclusion.BLANK_GROSS_LOAD
    if u.gross_load_mwh == 0:
        return Exclusion.ZERO_LOAD
    return None


# ---------------------------------------------------------------------- comparison
@dataclass(frozen=True)
class CategoryComparison:
    """Computed vs reported CO2 for one group of units (tonnes; relative differences in %)."""

    units: int
    computed_t: Decimal
    reported_t: Decimal
    total_diff_pct: Decimal  # (computed − reported) / reported × 100
    median_abs_diff_pct: Decimal
    p95_abs_diff_pct: Decimal
    within_5pct: int  # units whose |difference| ≤ 5 %


@dataclass(frozen=True)
class EmissionsComparison:
    """How close the computed emissions (heat input × OGE factor) are to the file's own CO2
    column (CEMS-measured or EPA Part 75 calculated), overall and per category; units without
    a reported CO2 figure are left out and counted."""

    overall: CategoryComparison
    by_category: dict[str, CategoryComparison]
    without_reported_co2: int

    @classmethod
    def of(cls, units: Iterable[SimUnit]) -> EmissionsComparison:
        groups: dict[str, list[tuple[Decimal, Decimal]]] = {}
        allpairs: list[tuple[Decimal, Decimal]] = []
        missing = 0
        for u in units:
            rep = u.file_co2_t
            if rep is None or rep == 0:
                missing += 1
                continue
            pair = (Decimal(u.emissions_kg) / 1_000, rep)
            groups.setdefault(u.category, []).append(pair)
            allpairs.append(pair)
        return cls(_compare(allpairs), {k: _compare(v) for k, v in sorted(groups.items())}, missing)

    def as_dict(self) -> dict[str, object]:
        def d(c: CategoryComparison) -> dict[str, object]:
            return {"units": c.units, "computed_t": float(round(c.computed_t, 3)), "reported_t": float(round(c.reported_t, 3)),
                    "total_diff_pct": float(c.total_diff_pct), "median_abs_diff_pct": float(c.median_abs_diff_pct),
                    "p95_abs_diff_pct": float(c.p95_abs_diff_pct), "within_5pct": c.within_5pct}
        return {"overall": d(self.overall), "by_category": {k: d(v) for k, v in self.by_category.items()},
                "without_reported_co2": self.without_reported_co2}


def _compare(pairs: list[tuple[Decimal, Decimal]]) -> CategoryComparison:
    if not pairs:
        z = Decimal(0)
        return CategoryComparison(0, z, z, z, z, z, 0)
    comp = sum((c for c, _ in pairs), Decimal(0))
    rep = sum((r for _, r in pairs), Decimal(0))
    rel = sorted(abs(c - r) / r * 100 for c, r in pairs)
    p95 = rel[min(len(rel) - 1, int(0.95 * len(rel)))]
    q = Decimal("0.01")
    return CategoryComparison(len(pairs), comp, rep, ((comp - rep) / rep * 100).quantize(q),
                              Decimal(statistics.median(rel)).quantize(q), p95.quantize(q), sum(1 for x in rel if x <= 5))
