"""Loader for US EPA AMPD / CAMPD hourly CEMS unit data.

Layouts (columns found by name, case-insensitive):

* old AMPD hourly (e.g. ../shared/data/cems/cems_moss_landing_unit1A_2019-01-01_h0-5_sample.csv):
  ``STATE, FACILITY_NAME, ORISPL_CODE, UNITID, OP_DATE (MM-DD-YYYY), OP_HOUR, OP_TIME,
  GLOAD (MW), …, CO2_MASS (tons), CO2_MASS_MEASURE_FLG, …, HEAT_INPUT (mmBtu)``;
* CAMPD hourly export: ``State, Facility Name, Facility ID, Unit ID, Date (YYYY-MM-DD), Hour,
  Operating Time, Gross Load (MW), CO2 Mass (short tons), CO2 Mass Measure Indicator,
  Heat Input (mmBtu)``.

Quantities kept (:mod:`oracles.quantities`): gross load (MW → kW, average over the operating
hour), heat input (MMBtu → MJ, total for the hour) and CO2 mass (short tons → kg, total for the
hour); conversions are exact decimal arithmetic, rounded half up to the integer unit.

Time: AMPD/CAMPD hours are "recorded using local, standard time" (CAMPD API, field ``hour`` of
HourlyApportionedEmissionsDTO; 40 CFR 75.57 hourly records), i.e. without daylight saving. The
hour's UTC start is ``date + hour − offset`` where the offset is, in this order:

1. the explicit ``utc_offset_seconds`` argument (the CLI's ``--utc-offset``), for every row;
2. the row's state in :data:`STATE_STANDARD_OFFSETS` (the state's standard time zone, 49 CFR
   Part 71); states split between two zones (:data:`MULTI_ZONE_STATES`, e.g. TX, FL, KY) have no
   entry: their rows are rejected with ``no_utc_offset`` until an explicit offset is given.

Measure flags are kept per value. :data:`MEASURE_FLAGS` maps each AMPD text to a code stored in
bits 8–15 of ``Reading.flags``; substitute data also sets bit 0
(:data:`ledger.meter_data.reading.FLAG_SUBSTITUTED`), so flags == 0 still means "measured". Gross load and
heat input have no measure-flag column in these layouts (flag text ""). An unrecognised flag text
quarantines the row (``unknown_measure_flag``): it might be a substitution we cannot see.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ledger.meter_data.reading import FLAG_SUBSTITUTED, Reading
from oracles.formats import Reject, csv_columns, data_rows
from oracles.quantities import CO2_MASS, GROSS_LOAD, HEAT_INPUT, QuantitySpec, QuantityValueError

__all__ = [
    "AMPD_QUANTITIES",
    "HOUR",
    "MEASURE_FLAGS",
    "MEASURE_FLAG_SHIFT",
    "MULTI_ZONE_STATES",
    "STATE_STANDARD_OFFSETS",
    "SUBSTITUTE_FLAGS",
    "AmpdData",
    "AmpdFormatError",
    "AmpdHour",
    "AmpdValue",
    "load_ampd_hourly",
    "measure_flag_bits",
]

HOUR: Final = 3_600

#: AMPD measure-flag text → code (bits 8–15 of ``Reading.flags``). "" = no flag column or
#: empty flag field. Texts as published by EPA CAMD (case-insensitive match).
MEASURE_FLAGS: Final[dict[str, int]] = {
    "measured": 0,
    "": 0,
    "calculated": 1,
    "substitute": 2,
    "measured and substitute": 3,
    "lme": 4,  # low mass emissions methodology (40 CFR 75.19)
    "other": 5,
    "unknown code": 6,
    "not applicable": 7,
}
#: Flag texts whose values are (wholly or partly) substitute data.
SUBSTITUTE_FLAGS: Final = frozenset({"substitute", "measured and substitute"})
#: Bit position of the measure-flag code inside ``Reading.flags``.
MEASURE_FLAG_SHIFT: Final = 8

_H: Final = 3_600
#: Standard-time UTC offsets (seconds) of US states and territories lying in ONE standard time
#: zone (zone boundaries: 49 CFR Part 71). AMPD hours are local standard time, so no DST.
STATE_STANDARD_OFFSETS: Final[dict[str, int]] = {
    **{s: -5 * _H for s in ("CT", "DC", "DE", "GA", "MA", "MD", "ME", "NC", "NH", "NJ", "NY",
                            "OH", "PA", "RI", "SC", "VA", "VT", "WV")},
    **{s: -6 * _H for s in ("AL", "AR", "IA", "IL", "LA", "MN", "MO", "MS", "OK", "WI")},
    **{s: -7 * _H for s in ("AZ", "CO", "MT", "NM", "UT", "WY")},
    **{s: -8 * _H for s in ("CA", "WA")},
    "HI": -10 * _H,
    "PR": -4 * _H,
}
#: States split between two standard time zones (49 CFR Part 71): an explicit offset is needed.
MULTI_ZONE_STATES: Final = frozenset(
    {"AK", "FL", "ID", "IN", "KS", "KY", "MI", "ND", "NE", "NV", "OR", "SD", "TN", "TX"}
)

#: Column aliases (normalised: lower case, single spaces) → canonical name.
_ALIASES: Final[dict[str, str]] = {
    "state": "state",
    "facility_name": "facility", "facility name": "facility",
    "orispl_code": "orispl", "facility id": "orispl", "facility id (orispl)": "orispl",
    "unitid": "unitid", "unit id": "unitid",
    "op_date": "date", "date": "date",
    "op_hour": "hour", "hour": "hour",
    "op_time": "op_time", "operating time": "op_time",
    "gload (mw)": "gross_load", "gross load (mw)": "gross_load",
    "co2_mass (tons)": "co2_mass", "co2 mass (short tons)": "co2_mass", "co2 mass (tons)": "co2_mass",
    "co2_mass_measure_flg": "co2_mass_flag", "co2 mass measure indicator": "co2_mass_flag",
    "co2 mass measure flag": "co2_mass_flag",
    "heat_input (mmbtu)": "heat_input", "heat input (mmbtu)": "heat_input",
    "heat_input_measure_flg": "heat_input_flag", "heat input measure indicator": "heat_input_flag",
    "gload_measure_flg": "gross_load_flag",
}
_REQUIRED: Final = ("state", "orispl", "unitid", "date", "hour")
#: Quantity name → spec, in report order.
AMPD_QUANTITIES: Final[dict[str, QuantitySpec]] = {
    "gross_load": GROSS_LOAD,
    "heat_input": HEAT_INPUT,
    "co2_mass": CO2_MASS,
}
_MDY_RE: Final = re.compile(r"(\d{1,2})[-/](\d{1,2})[-/](\d{4})")
_YMD_RE: Final = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


class AmpdFormatError(ValueError):
    """Empty file, or a header without the unit/date/hour columns or any quantity column."""


def measure_flag_bits(flag_text: str) -> int:
    """``Reading.flags`` for a measure-flag text: code << 8, plus bit 0 for substitute data.

    Raises:
        KeyError: unknown flag text.
    """
    key = " ".join(flag_text.strip().lower().split())
    code = MEASURE_FLAGS[key]
    return (code << MEASURE_FLAG_SHIFT) | (FLAG_SUBSTITUTED if key in SUBSTITUTE_FLAGS else 0)


@dataclass(frozen=True, slots=True)
class AmpdValue:
    """One quantity of one hour.

    Attributes:
        quantity: name (key of :data:`AMPD_QUANTITIES`).
        text: the field as written (in the source unit).
        value: integer in the quantity's unit (kW, MJ, kg); None if the field is empty.
        exact: whether the conversion needed no rounding.
        flag_text: measure-flag text as written ("" when the layout has no flag for it).
        flags: ``Reading.flags`` bits (:func:`measure_flag_bits`).
        substitute: whether the value is substitute data.
    """

    quantity: str
    text: str
    value: int | None
    exact: bool
    flag_text: str
    flags: int
    substitute: bool


@dataclass(frozen=True, slots=True)
class AmpdHour:
    """One unit-hour row.

    Attributes:
        line: 1-based data row number (header excluded).
        unit_key: series key ``"<ORISPL>/<UNITID>"`` (e.g. ``"260/1A"``).
        state / facility: as written.
        local_date: the row's date as written; local_hour: 0–23, local standard time.
        start: UTC unix seconds of the hour's start.
        utc_offset_seconds: the offset used (local = UTC + offset).
        op_time: operating fraction of the hour as written ("" if absent).
        values: per quantity (only the quantities whose column exists).
        problem / detail: None, or why the row is quarantined (``malformed_value``,
            ``implausible_value``, ``unknown_measure_flag``, ``bad_op_time``).
    """

    line: int
    unit_key: str
    state: str
    facility: str
    local_date: str
    local_hour: int
    start: int
    utc_offset_seconds: int
    op_time: str
    values: dict[str, AmpdValue] = field(hash=False)
    problem: str | None
    detail: str

    @property
    def operating(self) -> bool:
        """False when the operating time is given and is 0 (the unit did not run that hour)."""
        try:
            return not self.op_time or float(self.op_time) > 0
        except ValueError:
            return True

    def reading(self, quantity: str, device: bytes, sequence: int | None = None) -> Reading | None:
        """This hour's value of ``quantity`` as a :class:`ledger.meter_data.reading.Reading` (unsigned).

        Args:
            quantity: a key of :data:`AMPD_QUANTITIES` (one device per quantity on-chain).
            device: the 32-byte device id of that quantity's CEMS channel.
            sequence: default ``start // 3600`` (strictly increasing for hourly data).

        Returns:
            ``Reading(device, sequence, start, start + 3600, code, value, 0, flags)`` with the
            measure-flag bits (:func:`measure_flag_bits`), or None when the value is empty.

        Raises:
            KeyError: the quantity is not in this row.
        """
        v = self.values[quantity]
        if v.value is None:
            return None
        code = AMPD_QUANTITIES[quantity].code
        seq = self.start // HOUR if sequence is None else sequence
        return Reading(device, seq, self.start, self.start + HOUR, code, v.value, 0, v.flags)

    def payload(self) -> tuple[object, ...]:
        """What two copies of the same unit-hour must share to be identical duplicates."""
        return (self.op_time, tuple((v.quantity, v.value, v.flag_text.lower()) for v in self.values.values()))


@dataclass
class AmpdData:
    """Result of :func:`load_ampd_hourly`: rows in file order, rejects, source path."""

    rows: list[AmpdHour]
    rejects: list[Reject]
    source: str


def _norm(h: str) -> str:
    return " ".join(h.replace("\n", " ").strip().lower().split())


def _parse_date(text: str) -> int | None:
    """``MM-DD-YYYY`` (old AMPD), ``M/D/YYYY`` or ``YYYY-MM-DD`` → UTC seconds of midnight."""
    t = text.strip()
    m = _YMD_RE.fullmatch(t)
    if m:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    else:
        m = _MDY_RE.fullmatch(t)
        if not m:
            return None
        mo, d, y = int(m[1]), int(m[2]), int(m[3])
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1]):
        return None
    return calendar.timegm((y, mo, d, 0, 0, 0, 0, 0, 0))


def load_ampd_hourly(path: Path | str, utc_offset_seconds: int | None = None) -> AmpdData:
    """Load AMPD/CAMPD hourly unit rows, converting local standard time to UTC.

    Args:
        path: the CSV file.
        utc_offset_seconds: explicit offset of the data's local standard time (e.g. −28800 for
            PST); None = per-state table :data:`STATE_STANDARD_OFFSETS`.

    Returns:
        :class:`AmpdData`; every data row is in ``rows`` or ``rejects`` (bad date/hour, unknown
        or multi-zone state without an explicit offset, missing unit id).

    Raises:
        FileNotFoundError: no such file.
        AmpdFormatError: empty file, required columns missing, or no quantity column.
        ValueError: ``utc_offset_seconds`` outside ±14 h or not a whole number of minutes.
    """
    if utc_offset_seconds is not None and (
        abs(utc_offset_seconds) > 14 * _H or utc_offset_seconds % 60
    ):
        raise ValueError(f"utc_offset_seconds {utc_offset_seconds} must be whole minutes within ±14 h")
    p = Path(path)
    rows: list[AmpdHour] = []
    rejects: list[Reject] = []
    with csv_columns(p, _REQUIRED, AmpdFormatError, lambda h: _ALIASES.get(_norm(h))) as (reader, cols, header):
        present = [q for q in AMPD_QUANTITIES if q in cols]
        if not present:
            raise AmpdFormatError(f"{p}: no gross load, heat input or CO2 mass column")
        for line, row in data_rows(reader, len(header), rejects, name_width=True):

            def get(name: str, row: list[str] = row) -> str:
                i = cols.get(name)
                return row[i].strip() if i is not None else ""

            state = get("state").upper()
            orispl, unitid = get("orispl"), get("unitid")
            if not orispl or not unitid:
                rejects.append(Reject.of(line, "empty facility id or unit id", row))
                continue
            day = _parse_date(get("date"))
            if day is None:
                rejects.append(Reject.of(line, f"bad date {get('date')!r}", row))
                continue
            hour_text = get("hour")
            if not hour_text.isdigit() or int(hour_text) > 23:
                rejects.append(Reject.of(line, f"bad hour {hour_text!r} (0..23 expected)", row))
                continue
            if utc_offset_seconds is not None:
                offset = utc_offset_seconds
            elif state in STATE_STANDARD_OFFSETS:
                offset = STATE_STANDARD_OFFSETS[state]
            else:
                why = ("spans several standard time zones" if state in MULTI_ZONE_STATES
                       else "has no entry in the standard-offset table")
                rejects.append(Reject.of(line, f"no_utc_offset: state {state!r} {why}; pass an explicit UTC offset", row))
                continue
            hour = int(hour_text)
            start = day + hour * _H - offset
            problem: str | None = None
            detail = ""
            op_time = get("op_time")
            if op_time:
                try:
                    ot = float(op_time)
                    if not 0 <= ot <= 1:
                        raise ValueError
                except ValueError:
                    problem, detail = "bad_op_time", f"operating time {op_time!r} is not in [0, 1]"
            values: dict[str, AmpdValue] = {}
            for q in present:
                qs = AMPD_QUANTITIES[q]
                text = get(q)
                flag_text = get(q + "_flag")
                try:
                    flags = measure_flag_bits(flag_text)
                except KeyError:
                    flags = 0
                    if problem is None:
                        problem, detail = "unknown_measure_flag", f"{q}: measure flag {flag_text!r} is not recognised"
                substitute = " ".join(flag_text.lower().split()) in SUBSTITUTE_FLAGS
                value: int | None = None
                exact = True
                if text:
                    try:
                        value, exact = qs.to_units(text)
                    except QuantityValueError as exc:
                        if problem is None:
                            problem, detail = "malformed_value", f"{q}: {exc}"
                    else:
                        if not qs.plausible(value) and problem is None:
                            problem = "implausible_value"
                            detail = f"{q}: {text} {qs.source_unit} = {value} {qs.unit} outside [{qs.minimum}, {qs.maximum}]"
                values[q] = AmpdValue(q, text, value, exact, flag_text, flags, substitute)
            rows.append(AmpdHour(line, f"{orispl}/{unitid}", state, get("facility"), get("date"), hour,
                                 start, offset, op_time, values, problem, detail))
    return AmpdData(rows, rejects, str(p))
