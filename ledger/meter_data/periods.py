"""Anchoring periods of meter data: runs of local days cut at every local month boundary.

MeterDataAnchor refuses a batch that crosses a month of the owner's clock (``PeriodCrossesMonth``:
a month's activity data is the sum of whole batches, DESIGN.md §5), and one Merkle tree — one
``anchor`` transaction of ≈ 143,000 gas with 3 of 4 oracle signatures — per period spreads that
fixed cost over the period's readings: a day of minute readings (1,440) pays ≈ 100 gas each, a
week (≈ 10,000) ≈ 15 (DESIGN.md §7, issue 12).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def local_midnight_utc(day: date, utc_offset_s: int) -> int:
    """UTC seconds of local 00:00 of ``day`` on a clock ``utc_offset_s`` ahead of UTC."""
    return calendar.timegm(day.timetuple()) - utc_offset_s


def batch_periods(first_day: date, end_day: date, batch_days: int, utc_offset_s: int) -> list[tuple[int, int]]:
    """Anchoring periods of ``batch_days`` local days over ``[first_day, end_day)``, as UTC
    ``(start, end)`` seconds, cut at every local month boundary, so the last period of a month may
    be shorter. ``batch_days=1`` is one tree per device-day; pass the result to
    ``oracles.submitter.Submitter.anchor_periods``.

    Raises:
        ValueError: ``batch_days`` < 1 or ``end_day`` ≤ ``first_day``.
    """
    if batch_days < 1 or end_day <= first_day:
        raise ValueError(f"need batch_days >= 1 and first_day < end_day, got {batch_days}, [{first_day}, {end_day})")
    out = []
    cur = first_day
    while cur < end_day:
        next_month = date(cur.year + cur.month // 12, cur.month % 12 + 1, 1)
        stop = min(cur + timedelta(days=batch_days), next_month, end_day)
        out.append((local_midnight_utc(cur, utc_offset_s), local_midnight_utc(stop, utc_offset_s)))
        cur = stop
    return out
