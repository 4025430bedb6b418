"""Quantity registry: what a reading's ``quantityCode`` measures, its unit and plausibility bounds.

A reading's physical value is ``value × 10^scale`` in the quantity's unit. Oracle nodes refuse
values outside the bounds as ``implausible_value`` (DESIGN.md §7 step 2). Later issues add the
CEMS quantities (CO2 mass, heat input, gross load) and cumulative energy registers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quantity:
    """One measured quantity.

    Attributes:
        code: on-chain ``quantityCode``.
        name: machine name.
        unit: unit of ``value × 10^scale``.
        minimum: smallest plausible physical value (inclusive), in ``unit``.
        maximum: largest plausible physical value (inclusive), in ``unit``.
        max_interval_s: longest interval one reading may cover, seconds.
    """

    code: int
    name: str
    unit: str
    minimum: int
    maximum: int
    max_interval_s: int


#: Average active power over the reading's interval, in W (DESIGN.md §5). The upper bound,
#: 1 GW, is above the largest single generating unit on the Chinese grid (1.24 GW class units
#: exist only as generators, never as one purchased-electricity meter); negative power on a
#: purchased-electricity meter is refused (export is metered on its own register).
ACTIVE_POWER_W = Quantity(1, "active_power_avg", "W", 0, 1_000_000_000, 3_600)

QUANTITIES: dict[int, Quantity] = {q.code: q for q in (ACTIVE_POWER_W,)}


def quantity(code: int) -> Quantity:
    """Look up a quantity by code.

    Raises:
        KeyError: with the unknown code named.
    """
    try:
        return QUANTITIES[code]
    except KeyError:
        raise KeyError(f"unknown quantityCode {code}; known: {sorted(QUANTITIES)}") from None
