"""Loaders for plant and grid data formats besides the UCI minute meter series (oracles/uci.py).

* :mod:`oracles.formats.pjm` — PJM Data Miner hourly generation by fuel type (UTC axis);
* :mod:`oracles.formats.ampd_hourly` — US EPA AMPD/CAMPD hourly CEMS rows (local standard time
  converted to UTC, measure flags kept);
* :mod:`oracles.formats.counters` — cumulative energy registers (interval energy from deltas,
  a decrease quarantined as ``counter_reset_or_tamper``).

Every loader keeps every row somewhere: a parsed row (possibly carrying a ``problem`` that the
data-quality report quarantines) or a :class:`Reject` with its line number and reason (rows that
cannot be placed on a series' time axis at all). Nothing is silently dropped (DESIGN.md §7).
Line numbers are 1-based data rows, header excluded, as in oracles/uci.py.
"""

from __future__ import annotations

import calendar
import csv
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

__all__ = ["REJECT_TEXT_MAX", "Reject", "csv_columns", "data_rows", "iso_utc", "parse_iso_utc"]

#: Longest raw row text kept in a :class:`Reject`.
REJECT_TEXT_MAX: Final = 200


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that cannot be placed on any series' time axis: 1-based data row, why, its text."""

    line: int
    reason: str
    text: str

    @classmethod
    def of(cls, line: int, reason: str, row: list[str] | str) -> Reject:
        """Build a reject from a csv row (joined with ``,``) or raw text, truncated."""
        text = row if isinstance(row, str) else ",".join(row)
        return cls(line, reason, text.rstrip("\r\n")[:REJECT_TEXT_MAX])


def _lower(header: str) -> str:
    return header.strip().lower()


@contextmanager
def csv_columns(path: Path, required: Sequence[str], error: type[Exception],
                canonical: Callable[[str], str | None] = _lower
                ) -> Iterator[tuple[Iterator[list[str]], dict[str, int], list[str]]]:
    """Open a CSV file (UTF-8, a BOM allowed), read its header and yield ``(rows, columns, header)``:
    the reader of the data rows, canonical column name → index (``canonical(header)``, default
    stripped lower case; None skips a column; the first of two equal names wins) and the header.

    Raises:
        FileNotFoundError: no such file.
        error: ``"<path>: empty file (no header line)"`` or ``"<path>: header lacks a, b (found [...])"``
            when a ``required`` column is missing.
    """
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise error(f"{path}: empty file (no header line)")
        cols: dict[str, int] = {}
        for i, h in enumerate(header):
            name = canonical(h)
            if name is not None and name not in cols:
                cols[name] = i
        missing = [c for c in required if c not in cols]
        if missing:
            raise error(f"{path}: header lacks {', '.join(missing)} (found {header!r})")
        yield reader, cols, header


def data_rows(reader: Iterator[list[str]], width: int, rejects: list[Reject], *, name_width: bool = False
              ) -> Iterator[tuple[int, list[str]]]:
    """``(line, row)`` of every data row (1-based, header excluded) with at least ``width`` cells;
    a blank row becomes an ``empty row`` reject, a shorter one ``wrong column count: n`` (with
    ``, expected <width>`` when ``name_width``) — nothing is dropped silently."""
    for line, row in enumerate(reader, start=1):
        if not row or all(not c.strip() for c in row):
            rejects.append(Reject.of(line, "empty row", row))
        elif len(row) < width:
            rejects.append(Reject.of(line, f"wrong column count: {len(row)}" + (f", expected {width}" if name_width else ""),
                                     row))
        else:
            yield line, row


def iso_utc(ts: int) -> str:
    """UTC unix seconds → ISO 8601 ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_utc(text: str) -> int:
    """ISO 8601 date-time with ``Z`` or an explicit offset, or integer unix seconds → UTC seconds.

    Raises:
        ValueError: naive date-times (no offset) are refused: the clock would be a guess.
    """
    t = text.strip()
    if t.lstrip("-").isdigit():
        return int(t)
    dt = datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (write Z or ±HH:MM)")
    if dt.microsecond:
        raise ValueError(f"{text!r} is not on a whole second")
    return calendar.timegm(dt.utctimetuple())
