"""Units and rounding — the Python mirror of the contracts' integer arithmetic.

Every function here performs exactly the integer steps that the Solidity contracts perform
(DESIGN.md §5), so Python and chain give bit-identical figures:

* a reading carries average active power in integer W over ``[start, end)``;
* a batch carries energy in Wh = ⌊Σ(W × seconds) / 3600 + ½⌋;
* a month's activity data is the sum of its batches' Wh;
* emissions kgCO2 = ⌊Wh × EF / 10^7 + ½⌋ with EF in kgCO2/kWh scaled by 1e4 (0.5703 → 5703);
* reports show tonnes with 3 decimals; compliance obligations are whole tonnes, rounded half up.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

#: Scale of grid emission factors on-chain: kgCO2/kWh × 10^4 (0.5703 → 5703). DESIGN.md §5.
EF_SCALE = 10_000
#: Wh × (kgCO2/kWh × 1e4) → kgCO2 needs a division by 1000 (Wh→kWh) × 1e4 (EF scale).
_KG_DIVISOR = 1_000 * EF_SCALE


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


def emissions_kg(wh: int, ef_scaled: int) -> int:
    """Purchased-electricity emissions in kgCO2: ⌊Wh × EF / 10^7 + ½⌋.

    Args:
        wh: activity data in Wh (≥ 0).
        ef_scaled: grid emission factor in kgCO2/kWh × 10^4 (e.g. 5703 for 0.5703 tCO2/MWh,
            环办气候函〔2023〕43号).

    Raises:
        ValueError: on a negative argument.
    """
    if wh < 0 or ef_scaled < 0:
        raise ValueError(f"wh and ef_scaled must be >= 0, got {wh}, {ef_scaled}")
    return (wh * ef_scaled + _KG_DIVISOR // 2) // _KG_DIVISOR


def ef_to_scaled(ef_kg_per_kwh: str) -> int:
    """Convert a published factor such as ``"0.5703"`` (kgCO2/kWh = tCO2/MWh) to the ×1e4 integer.

    Raises:
        ValueError: if the factor has more than 4 decimals (it would not be exact) or is ≤ 0.
    """
    d = Decimal(ef_kg_per_kwh)
    scaled = d * EF_SCALE
    if scaled != scaled.to_integral_value() or scaled <= 0:
        raise ValueError(f"emission factor {ef_kg_per_kwh!r} is not a positive multiple of 0.0001")
    return int(scaled)


def wh_to_mwh(wh: int) -> Decimal:
    """Wh → MWh as an exact Decimal with 3 decimals, rounded half up (report display)."""
    return (Decimal(wh) / Decimal(1_000_000)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def kg_to_tonnes(kg: int) -> Decimal:
    """kgCO2 → tCO2 with 3 decimals (exact: 1 t = 1000 kg)."""
    return (Decimal(kg) / Decimal(1_000)).quantize(Decimal("0.001"))


def whole_tonnes_half_up(kg: int) -> int:
    """kgCO2 → whole tonnes rounded half up (compliance obligation, DESIGN.md §5)."""
    if kg < 0:
        raise ValueError(f"kg must be >= 0, got {kg}")
    return (kg + 500) // 1_000


#: Scale of per-fuel CO2 factors on-chain: kgCO2/GJ × 10^6 (FactorCodes.FUEL_CO2_SCALE = 6).
FUEL_FACTOR_SCALE = 1_000_000
#: MJ × (kgCO2/GJ × 1e6) → kgCO2 needs a division by 1000 (MJ→GJ) × 1e6 (factor scale).
FUEL_KG_DIVISOR = 1_000 * FUEL_FACTOR_SCALE


def fuel_emissions_kg(heat_mj: int, factor_scaled: int) -> int:
    """Fuel-combustion emissions in kgCO2: ⌊MJ × F / 10^9 + ½⌋ (EmissionsRegistry.fuelEmissionsKg).

    Args:
        heat_mj: fuel heat input (consumption × NCV) in MJ (≥ 0).
        factor_scaled: the fuel's CO2 factor CC × OF × 44/12 in kgCO2/GJ × 10^6 (DESIGN.md §6;
            the guideline's formula and defaults are UNCONFIRMED, china_rules.md §1).

    Raises:
        ValueError: on a negative argument.
    """
    if heat_mj < 0 or factor_scaled < 0:
        raise ValueError(f"heat_mj and factor_scaled must be >= 0, got {heat_mj}, {factor_scaled}")
    return (heat_mj * factor_scaled + FUEL_KG_DIVISOR // 2) // FUEL_KG_DIVISOR


def fuel_co2_code(fuel: bytes) -> bytes:
    """Factor code of fuel ``fuel`` (32 bytes, e.g. ``b"COAL".ljust(32, b"\\0")``):
    ``keccak256(abi.encode("FUEL_CO2_KGCO2_PER_GJ", fuel))`` as in ``FactorCodes.fuelCo2``."""
    from eth_abi import encode

    from ledger.crypto import keccak256

    if len(fuel) != 32:
        raise ValueError(f"fuel code must be 32 bytes, got {len(fuel)}")
    return keccak256(encode(["string", "bytes32"], ["FUEL_CO2_KGCO2_PER_GJ", fuel]))
