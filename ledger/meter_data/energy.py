"""Units of energy of the meter-data path — the Python mirror of MeterDataAnchor's integer steps
(DESIGN.md §5): a reading carries average active power in integer W over ``[start, end)``; a batch
carries energy in Wh = ⌊Σ(W × seconds) / 3600 + ½⌋; a month's activity data is the sum of its
batches' Wh.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal


def energy_wh(watt_seconds: int) -> int:
    """Energy of a batch in Wh from Σ(W × s), rounded half up: ⌊Σ/3600 + ½⌋.

    Args:
        watt_seconds: Σ over the batch's readings of (average W × interval seconds); ≥ 0.

    Raises:
        ValueError: if ``watt_seconds`` is negative.
    """
    if watt_seconds < 0:
        raise ValueError(f"watt_seconds must be >= 0, got {watt_seconds}")
    return (watt_seconds + 1_800) // 3_600


def batch_energy_wh(readings: Iterable[tuple[int, int, int]]) -> int:
    """Energy in Wh of a batch of ``(start, end, watts)`` readings (UTC seconds, W)."""
    return energy_wh(sum((end - start) * watts for start, end, watts in readings))


def wh_to_mwh(wh: int) -> Decimal:
    """Wh → MWh as an exact Decimal with 3 decimals, rounded half up (report display)."""
    return (Decimal(wh) / Decimal(1_000_000)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


