"""Loader for PJM Data Miner hourly generation by fuel type (e.g. "Generation by Fuel Type").

Layout (e.g. ../shared/data/grid/pjm_hourly_renewable_generation_2016.csv, bsergi/
Historical-PJM-Dispatch-Curves @ a37b3262): a header with at least ``datetime_beginning_utc``,
``fuel_type`` and ``mw``; optionally ``datetime_beginning_ept`` and other columns, which are kept
out of the comparison. Columns are found by name (case-insensitive, spaces trimmed).

* Series = ``fuel_type``; time axis = ``datetime_beginning_utc`` (the hour's start, UTC), so
  the Eastern Prevailing Time column's DST transitions (a missing 02:00 in March, a repeated
  01:00 in November) are not defects. When ``datetime_beginning_ept`` is present, every row's
  EPT is checked against the UTC hour converted with the ``America/New_York`` rules and
  disagreements are reported (:attr:`PjmRow.ept_ok`), never used to move a row.
* Timestamps: ``M/D/YYYY H:MM`` as in the file, also with ``:SS`` and/or ``AM``/``PM`` (Data
  Miner's own export), or ISO 8601 ``YYYY-MM-DD[ T]HH:MM[:SS]``.
* ``mw`` is average MW over the hour, converted exactly to integer kW
  (:data:`oracles.quantities.PJM_GENERATION`); a value outside the plausibility bounds or with
  more than 3 decimals (not a whole kW) is kept with a ``problem`` and quarantined by the
  report. Empty or non-numeric ``mw`` → ``problem = "missing_value"`` / ``"malformed_value"``.
* Rows without a parseable UTC time or without a fuel type are :class:`Reject` (they cannot be
  placed on any series' axis).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from oracles.formats import Reject, csv_columns, data_rows
from oracles.quantities import PJM_GENERATION, QuantityValueError

__all__ = ["HOUR", "PjmData", "PjmFormatError", "PjmRow", "load_pjm", "parse_pjm_time"]

HOUR: Final = 3_600

_US_TIME_RE: Final = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d\d)(?::(\d\d))?(?:\s*([AaPp][Mm]))?"
)
_ISO_TIME_RE: Final = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)(?::(\d\d))?")


class PjmFormatError(ValueError):
    """The file lacks a header or one of the required columns."""


@dataclass(frozen=True, slots=True)
class PjmRow:
    """One PJM row.

    Attributes:
        line: 1-based data row number (header excluded).
        fuel_type: the series key, as written (spaces trimmed).
        start: UTC unix seconds of the hour's start.
        mw_text: the ``mw`` field as written.
        kw: the value in integer kW (None when missing/malformed).
        problem: None, or why the row is quarantined: ``missing_value``, ``malformed_value``,
            ``implausible_value`` or ``inexact_value``.
        detail: human-readable detail of the problem.
        ept_text: ``datetime_beginning_ept`` as written ("" when the column is absent).
        ept_ok: None when there is no EPT column (or no time-zone data), else whether the EPT
            matches the UTC hour under America/New_York rules.
    """

    line: int
    fuel_type: str
    start: int
    mw_text: str
    kw: int | None
    problem: str | None
    detail: str
    ept_text: str
    ept_ok: bool | None


@dataclass
class PjmData:
    """Result of :func:`load_pjm`: rows in file order, rejects, source path."""

    rows: list[PjmRow]
    rejects: list[Reject]
    source: str


def parse_pjm_time(text: str) -> int | None:
    """A PJM wall-clock string → seconds since the epoch *as if UTC* (None if unparseable).

    For ``datetime_beginning_utc`` this is the UTC instant; for EPT it is the local wall clock.
    """
    t = text.strip()
    m = _US_TIME_RE.fullmatch(t)
    if m:
        month, day, year, hour, minute = (int(m[i]) for i in (1, 2, 3, 4, 5))
        second = int(m[6] or 0)
        ampm = (m[7] or "").upper()
        if ampm:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if ampm == "PM" else 0)
    else:
        m = _ISO_TIME_RE.fullmatch(t)
        if not m:
            return None
        year, month, day, hour, minute = (int(m[i]) for i in (1, 2, 3, 4, 5))
        second = int(m[6] or 0)
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def _eastern() -> object | None:
    try:
        return ZoneInfo("America/New_York")
    except Exception:  # pragma: no cover — no tz database on this machine
        return None


def load_pjm(path: Path | str) -> PjmData:
    """Load a PJM hourly file.

    Args:
        path: the CSV file (``,``-separated, any line endings, optional BOM).

    Returns:
        :class:`PjmData` with every data row either in ``rows`` or in ``rejects``.

    Raises:
        FileNotFoundError: no such file.
        PjmFormatError: empty file or missing ``datetime_beginning_utc``/``fuel_type``/``mw``.
    """
    p = Path(path)
    rows: list[PjmRow] = []
    rejects: list[Reject] = []
    eastern = _eastern()
    with csv_columns(p, ("datetime_beginning_utc", "fuel_type", "mw"), PjmFormatError) as (reader, cols, header):
        i_utc, i_fuel, i_mw = cols["datetime_beginning_utc"], cols["fuel_type"], cols["mw"]
        i_ept = cols.get("datetime_beginning_ept")
        for line, row in data_rows(reader, max(i_utc, i_fuel, i_mw) + 1, rejects):
            start = parse_pjm_time(row[i_utc])
            if start is None:
                rejects.append(Reject.of(line, f"bad datetime_beginning_utc {row[i_utc]!r}", row))
                continue
            fuel = row[i_fuel].strip()
            if not fuel:
                rejects.append(Reject.of(line, "empty fuel_type", row))
                continue
            mw_text = row[i_mw].strip()
            kw: int | None = None
            problem: str | None = None
            detail = ""
            if not mw_text:
                problem, detail = "missing_value", "mw is empty"
            else:
                try:
                    kw, exact = PJM_GENERATION.to_units(mw_text)
                except QuantityValueError as exc:
                    problem, detail = "malformed_value", str(exc)
                else:
                    if not PJM_GENERATION.plausible(kw):
                        problem = "implausible_value"
                        detail = (f"{mw_text} MW outside [{PJM_GENERATION.minimum // 1000}, "
                                  f"{PJM_GENERATION.maximum // 1000}] MW")
                    elif not exact:
                        problem, detail = "inexact_value", f"{mw_text} MW is not a whole kW"
            ept_text = row[i_ept].strip() if i_ept is not None and i_ept < len(row) else ""
            ept_ok: bool | None = None
            if i_ept is not None and eastern is not None:
                local = datetime.fromtimestamp(start, tz=timezone.utc).astimezone(eastern)  # type: ignore[arg-type]
                wall = parse_pjm_time(ept_text)
                ept_ok = wall is not None and wall == calendar.timegm(local.replace(tzinfo=None).timetuple())
            rows.append(PjmRow(line, fuel, start, mw_text, kw, problem, detail, ept_text, ept_ok))
    return PjmData(rows, rejects, str(p))
