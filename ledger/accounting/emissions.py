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

from decimal import Decimal

from eth_abi import encode

from ledger.crypto.primitives import keccak256

#: Scale of grid emission factors on-chain: kgCO2/kWh × 10^4 (0.5703 → 5703). DESIGN.md §5.
EF_SCALE = 10_000
#: Wh × (kgCO2/kWh × 1e4) → kgCO2 needs a division by 1000 (Wh→kWh) × 1e4 (EF scale).
_KG_DIVISOR = 1_000 * EF_SCALE


def emissions_kg(wh: int, ef_scaled: int) -> int:
    """Purchased-electricity emissions in kgCO2: ⌊Wh × EF / 10^7 + ½⌋.

    Args:
        wh: activity data in Wh (≥ 0).
        ef_scaled: grid emission factor in kgCO2/kWh × 10^4 (e.g. 5703 for 0.5703 tCO2/MWh,
            环办气候函〔2023〕43号).

    Raises:
        ValueError: on a negative argument. Uint256Overflow: where EmissionsRegistry.emissionsKg
        reverts (Wh × EF + 5e6 above 2**256 − 1).
    """
    return _half_up(_KG_DIVISOR, wh=wh, ef_scaled=ef_scaled)


#: Largest uint256: the contracts' checked arithmetic reverts (panic 0x11) above it.
UINT256_MAX = 2**256 - 1


class Uint256Overflow(ArithmeticError):
    """An argument or an intermediate result exceeds the contract's integer type: where the
    contract reverts (Solidity 0.8 checked arithmetic, panic 0x11, or an ABI bound), the mirror
    raises this."""


def check_uint(name: str, value: int, bits: int = 256) -> int:
    """``value`` if it fits ``uint{bits}``.

    Raises:
        ValueError: negative. Uint256Overflow: above 2**bits − 1.
    """
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if value >> bits:
        raise Uint256Overflow(f"{name} = {value} does not fit uint{bits}")
    return value


def checked_mul(*factors: int) -> int:
    """Π factors left to right as Solidity's checked ``a * b * …`` (each partial product must fit
    uint256, even when a later factor is 0).

    Raises:
        Uint256Overflow: a partial product above 2**256 − 1.
    """
    out = 1
    for i, f in enumerate(factors):
        out *= f
        if out > UINT256_MAX:
            raise Uint256Overflow(f"product of the first {i + 1} factors overflows uint256")
    return out


def checked_add(*terms: int) -> int:
    """Σ terms as Solidity's checked ``+``.

    Raises:
        Uint256Overflow: the sum exceeds 2**256 − 1.
    """
    out = sum(terms)
    if out > UINT256_MAX:
        raise Uint256Overflow("sum overflows uint256")
    return out


def _non_negative(**values: int) -> None:
    bad = {k: v for k, v in values.items() if v < 0}
    if bad:
        raise ValueError(f"arguments must be >= 0, got {bad}")
    for k, v in values.items():
        check_uint(k, v)


def _half_up(divisor: int, **factors: int) -> int:
    """⌊Π factors / divisor + ½⌋ in integers, as the contracts round (one rounding at the end),
    with the contracts' checked arithmetic: ``(a * b * … + divisor / 2) / divisor``.

    Raises:
        ValueError: a negative factor (named in the message). Uint256Overflow: an argument or an
        intermediate result above 2**256 − 1 (the contract reverts).
    """
    _non_negative(**factors)
    return checked_add(checked_mul(*factors.values()), divisor // 2) // divisor


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
    return _half_up(FUEL_KG_DIVISOR, heat_mj=heat_mj, factor_scaled=factor_scaled)


def fuel_co2_code(fuel: bytes) -> bytes:
    """Factor code of fuel ``fuel`` (32 bytes, e.g. ``b"COAL".ljust(32, b"\\0")``):
    ``keccak256(abi.encode("FUEL_CO2_KGCO2_PER_GJ", fuel))`` as in ``FactorCodes.fuelCo2``."""
    return _code("FUEL_CO2_KGCO2_PER_GJ", fuel)


# ---------------------------------------------------------------- guideline fuel method, purchased heat
#: FC scale: t (or 10^4 Nm³) × 10^3.
FUEL_CONSUMPTION_SCALE = 1_000
#: NCV scale: GJ/t (or GJ/10^4 Nm³) × 10^6 (FactorCodes.FUEL_NCV_SCALE).
FUEL_NCV_SCALE = 1_000_000
#: CC scale: tC/GJ × 10^9 (FactorCodes.FUEL_CC_SCALE; 0.03085 → 30_850_000).
FUEL_CC_SCALE = 1_000_000_000
#: OF scale: fraction × 10^6 (FactorCodes.FUEL_OF_SCALE; 99 % → 990_000).
FUEL_OF_SCALE = 1_000_000
#: EF_heat scale: tCO2/GJ × 10^6 (FactorCodes.HEAT_EF_SCALE).
HEAT_EF_SCALE = 1_000_000
#: EmissionsRegistry.GUIDELINE_FUEL_DIVISOR = 12 × 10^3 × 10^6 × 10^9 × 10^6 / 10^3 (t → kg).
GUIDELINE_FUEL_DIVISOR = 12 * 10**21
#: defaultsMask bits of EmissionsRegistry.FuelParameters.
DEFAULT_NCV, DEFAULT_CC, DEFAULT_OF = 1, 2, 4


def guideline_fuel_emissions_kg(consumption: int, ncv: int, carbon_content: int, oxidation_rate: int) -> int:
    """Fuel-combustion emissions in kgCO2 by the guideline's parameters, rounded half up once:
    ``⌊FC × NCV × CC × OF × 44 / (12 × 10^21) + ½⌋`` (EmissionsRegistry.guidelineFuelEmissionsKg).

    DESIGN.md §6: E = FC × NCV × CC × OF × 44/12 (企业温室气体排放核算与报告指南 发电设施 / GB/T 32150;
    the guideline's text is UNCONFIRMED in china_rules.md §1).

    Args:
        consumption: FC in t (or 10^4 Nm³) × 1000.
        ncv: NCV in GJ/t (or GJ/10^4 Nm³) × 10^6.
        carbon_content: CC in tC/GJ × 10^9.
        oxidation_rate: OF as fraction × 10^6.

    Raises:
        ValueError: on a negative argument.
    """
    return _half_up(GUIDELINE_FUEL_DIVISOR, consumption=consumption, ncv=ncv, carbon_content=carbon_content,
                    oxidation_rate=oxidation_rate, molar_ratio_numerator=44)


def fuel_heat_input_mj(consumption: int, ncv: int) -> int:
    """Fuel heat input in MJ: ``⌊FC × NCV / 10^6 + ½⌋`` (FC t × 1000, NCV GJ/t × 1e6;
    EmissionsRegistry.fuelHeatInputMJ). Raises ValueError on a negative argument."""
    return _half_up(1_000_000, consumption=consumption, ncv=ncv)


def fuel_co2_factor_scaled(carbon_content: int, oxidation_rate: int) -> int:
    """Composite factor CC × OF × 44/12 in kgCO2/GJ × 1e6: ``⌊CC × OF × 44 / (12 × 10^6) + ½⌋``
    (EmissionsRegistry.fuelCo2Factor). Raises ValueError on a negative argument."""
    return _half_up(12_000_000, carbon_content=carbon_content, oxidation_rate=oxidation_rate, molar_ratio_numerator=44)


def heat_emissions_kg(heat_mj: int, ef_scaled: int) -> int:
    """Purchased-heat emissions in kgCO2: ``⌊MJ × EF / 10^6 + ½⌋`` with EF_heat in tCO2/GJ × 10^6
    (DESIGN.md §6 E_heat = AD × EF_heat; EmissionsRegistry.heatEmissionsKg).
    Raises ValueError on a negative argument."""
    return _half_up(1_000_000, heat_mj=heat_mj, ef_scaled=ef_scaled)


def _code(tag: str, fuel: bytes | None = None) -> bytes:
    if fuel is None:
        return keccak256(tag.encode())
    if len(fuel) != 32:
        raise ValueError(f"fuel code must be 32 bytes, got {len(fuel)}")
    return keccak256(encode(["string", "bytes32"], [tag, fuel]))


def residual_ef_code() -> bytes:
    """Factor code of the market-based residual-mix factor (FactorCodes.RESIDUAL_EF =
    keccak256("RESIDUAL_EF_KGCO2_PER_KWH")), kgCO2/kWh × 1e4 like GRID_EF (EF_SCALE). GHG Protocol
    Scope 2 Guidance 2015, market-based method; no official Chinese value (UNCONFIRMED,
    china_rules.md has none): the regulator publishes it in a factor set, never a default here."""
    return _code("RESIDUAL_EF_KGCO2_PER_KWH")


def heat_ef_code() -> bytes:
    """Factor code of EF_heat (FactorCodes.HEAT_EF = keccak256("HEAT_EF_TCO2_PER_GJ"))."""
    return _code("HEAT_EF_TCO2_PER_GJ")


def fuel_ncv_code(fuel: bytes) -> bytes:
    """Factor code of fuel ``fuel``'s default NCV (FactorCodes.fuelNcv), GJ/t × 1e6."""
    return _code("FUEL_NCV_GJ_PER_UNIT", fuel)


def fuel_cc_code(fuel: bytes) -> bytes:
    """Factor code of fuel ``fuel``'s default carbon content (FactorCodes.fuelCarbonContent), tC/GJ × 1e9."""
    return _code("FUEL_CC_TC_PER_GJ", fuel)


def fuel_of_code(fuel: bytes) -> bytes:
    """Factor code of fuel ``fuel``'s default oxidation rate (FactorCodes.fuelOxidationRate), × 1e6."""
    return _code("FUEL_OF_FRACTION", fuel)


# ---------------------------------------------------------------- completeness (issue 12)
#: Seconds of a local day (fixed UTC offsets, no DST; EmissionsRegistry.DAY_SECONDS).
DAY_SECONDS = 86_400


def missing_day_mask(window_start: int, window_end: int, batches: list[tuple[int, int]]) -> int:
    """Days of ``[window_start, window_end)`` (bit d − 1 = local day d) not fully covered by the
    non-overlapping ``batches`` ((start, end) UTC seconds inside the window): the mirror of
    EmissionsRegistry's coverage check (MissingDays).

    Raises:
        ValueError: a batch outside the window or a window not a whole number of days.
    """
    if window_end <= window_start or (window_end - window_start) % DAY_SECONDS:
        raise ValueError(f"window [{window_start}, {window_end}) is not a whole number of days")
    days = (window_end - window_start) // DAY_SECONDS
    covered = [0] * days
    for s, e in batches:
        if s < window_start or e > window_end or e < s:
            raise ValueError(f"batch [{s}, {e}) is outside the window")
        while s < e:
            d = (s - window_start) // DAY_SECONDS
            seg = min(e, window_start + (d + 1) * DAY_SECONDS)
            covered[d] += seg - s
            s = seg
    return sum(1 << d for d in range(days) if covered[d] < DAY_SECONDS)


def day_mask(days: list[int] | set[int]) -> int:
    """Day mask of 1-based local days ``days`` (bit d − 1 = day d).

    Raises:
        ValueError: a day outside 1..31.
    """
    bad = [d for d in days if not 1 <= d <= 31]
    if bad:
        raise ValueError(f"days must be 1..31, got {bad}")
    return sum(1 << (d - 1) for d in set(days))


def gap_substitute_wh(missing_seconds: int, peak_day_wh: int) -> int:
    """The demo regulator's conservative substitute for a gap, Wh: every missing second at the
    average power of the month's highest fully metered day, rounded up:
    ``⌈missing_seconds × peak_day_wh / 86,400⌉``.

    china_rules.md names no missing-data substitute for purchased electricity (the guideline's
    conservative defaults cover fuel parameters, §1; its text is UNCONFIRMED), so the value is
    the regulator's assessed one (EmissionsRegistry.assessGap); this rule is OUR choice for the
    demo, never below what the best-measured day would give, so a gap never lowers E.

    Raises:
        ValueError: a negative argument.
    """
    _non_negative(missing_seconds=missing_seconds, peak_day_wh=peak_day_wh)
    return -(-(missing_seconds * peak_day_wh) // DAY_SECONDS)
