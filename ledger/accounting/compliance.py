"""Allocation and compliance: deployment of the two contracts, bit-identical Python mirrors of
their formulas, and parameter presets (with citations) taken from ../shared/data/china_rules.md.

Units (DESIGN.md §5): CEA/CCER in whole tCO2e; emissions in kgCO2; electricity in Wh; heat in
MJ; benchmarks tCO2/MWh × 1e6 and tCO2/GJ × 1e6; correction factors × 1e6; money in fen.

Formulas (contracts/Allocation.sol, contracts/Compliance.sol)::

    num          = Wh × B_supply × C + MJ × B_heat × 10^9          (1e-18 tCO2)
    final A      = ⌊num / 10^18 + ½⌋                                (half up: our choice)
    pre-alloc    = ⌊num × bps / 10^22 + ½⌋
    E            = ⌊kg / 1000 + ½⌋
    obligation   = min(E, A) gas units under the gas rule; min(E, A + ⌊E × gap / 10^4⌋) with a
                   gap cap; else E
    CCER cap     = ⌊obligation × ccerBps / 10^4⌋
    penalty      = 5 × S × P … 10 × S × P fen
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledger.accounting.emissions import check_uint, checked_add, checked_mul

#: Fixed-point scale of benchmarks and correction factors (Allocation.FACTOR_SCALE).
FACTOR_SCALE = 1_000_000
#: Basis points per 1.
BPS = 10_000
_TONNE_DIVISOR = 10**18
_HEAT_MULTIPLIER = 10**9
#: Penalty multiples of S × P, 《碳排放权交易管理暂行条例》 Art. 24 (CONFIRMED-P).
PENALTY_MIN_MULTIPLE, PENALTY_MAX_MULTIPLE = 5, 10

#: Unit categories of 国环规气候〔2020〕3号 and 〔2023〕1号 (CONFIRMED-S / CONFIRMED-P), as bytes32.
CATEGORIES = {
    "COAL_GT300": "300MW等级以上常规燃煤机组",
    "COAL_LE300": "300MW等级及以下常规燃煤机组",
    "COAL_UNCONVENTIONAL": "燃煤矸石、煤泥、水煤浆等非常规燃煤机组(含燃煤循环流化床机组)",
    "GAS": "燃气机组",
}


def category_id(name: str) -> bytes:
    """bytes32 of a unit category name (ASCII, right-padded with zeros, as Solidity's
    ``bytes32("GAS")``).

    Raises:
        ValueError: empty or longer than 32 bytes.
    """
    raw = name.encode()
    if not 0 < len(raw) <= 32:
        raise ValueError(f"category {name!r} must be 1..32 bytes")
    return raw.ljust(32, b"\0")


def _check_non_negative(bits: int = 256, **values: int) -> None:
    """Every value fits uint{bits} (the contract's parameter type).

    Raises:
        ValueError: a negative value. Uint256Overflow: a value above 2**bits − 1.
    """
    for k, v in values.items():
        check_uint(k, v, bits)



# --------------------------------------------------------------------------- formulas (mirrors)
def allocation_tonnes(electricity_wh: int, heat_mj: int, supply_benchmark: int, heat_benchmark: int,
                      correction_factor: int) -> int:
    """Final allocation in whole tCO2e (Allocation.allocationTonnes).

    Args:
        electricity_wh: electricity supplied, Wh. heat_mj: heat supplied, MJ.
        supply_benchmark: tCO2/MWh × 1e6. heat_benchmark: tCO2/GJ × 1e6. correction_factor: × 1e6.

    Raises:
        ValueError: on a negative argument. Uint256Overflow: where the contract reverts (checked
        arithmetic on the numerator or its rounding).
    """
    _check_non_negative(electricity_wh=electricity_wh, heat_mj=heat_mj, supply_benchmark=supply_benchmark,
                        heat_benchmark=heat_benchmark, correction_factor=correction_factor)
    num = _numerator(electricity_wh, heat_mj, supply_benchmark, heat_benchmark, correction_factor)
    return checked_add(num, _TONNE_DIVISOR // 2) // _TONNE_DIVISOR


def _numerator(wh: int, mj: int, bs: int, bh: int, c: int) -> int:
    """Allocation._numerator: ``wh * bs * c + mj * bh * 1e9`` with checked arithmetic."""
    return checked_add(checked_mul(wh, bs, c), checked_mul(mj, bh, _HEAT_MULTIPLIER))


def pre_allocation_tonnes(basis_wh: int, basis_heat_mj: int, supply_benchmark: int, heat_benchmark: int,
                          correction_factor: int, pre_allocation_bps: int) -> int:
    """Pre-allocation in whole tCO2e (Allocation.preAllocationTonnes): ⌊num × bps / 1e22 + ½⌋.

    Raises:
        ValueError: on a negative argument. Uint256Overflow: where the contract reverts.
    """
    _check_non_negative(basis_wh=basis_wh, basis_heat_mj=basis_heat_mj, supply_benchmark=supply_benchmark,
                        heat_benchmark=heat_benchmark, correction_factor=correction_factor,
                        pre_allocation_bps=pre_allocation_bps)
    num = _numerator(basis_wh, basis_heat_mj, supply_benchmark, heat_benchmark, correction_factor)
    div = _TONNE_DIVISOR * BPS
    return checked_add(checked_mul(num, pre_allocation_bps), div // 2) // div


def emissions_tonnes(kg: int) -> int:
    """E in whole tonnes from kgCO2, rounded half up (Compliance.emissionsTonnes).

    Raises:
        ValueError: negative. Uint256Overflow: kg + 500 above 2**256 − 1 (the contract reverts).
    """
    _check_non_negative(kg=kg)
    return checked_add(kg, 500) // 1_000


def obligation_tonnes(emissions_t: int, allocation_t: int, gap_cap_bps: int, gas_cap_to_allocation: bool,
                      gas_unit: bool) -> int:
    """Obligation (应清缴配额) in tCO2e (Compliance.obligationOf).

    min(E, A) for a gas unit under the gas rule; min(E, A + ⌊E × gap_cap_bps / 10000⌋) with a gap
    cap (2000 bps in 2019–2022, 环办气候函〔2021〕492号 per ICAP); otherwise E.

    Raises:
        ValueError: negative. Uint256Overflow: gap_cap_bps above uint16, or the capped sum above
        uint256 (where the contract reverts).
    """
    _check_non_negative(emissions_t=emissions_t, allocation_t=allocation_t)
    _check_non_negative(16, gap_cap_bps=gap_cap_bps)
    if gas_unit and gas_cap_to_allocation:
        return min(emissions_t, allocation_t)
    if gap_cap_bps:
        return min(emissions_t, checked_add(allocation_t, checked_mul(emissions_t, gap_cap_bps) // BPS))
    return emissions_t


def ccer_cap(obligation: int, ccer_cap_bps: int) -> int:
    """Most CCER (tCO2e) usable: ⌊obligation × bps / 10000⌋ (管理办法（试行）Art. 29: 5 %).

    Raises:
        ValueError: negative. Uint256Overflow: bps above uint16 or the product above uint256.
    """
    _check_non_negative(obligation=obligation)
    _check_non_negative(16, ccer_cap_bps=ccer_cap_bps)
    return checked_mul(obligation, ccer_cap_bps) // BPS


def penalty_range_fen(shortfall_t: int, price_fen: int) -> tuple[int, int]:
    """Fine range in fen for a shortfall of ``shortfall_t`` t at ``price_fen`` fen/t:
    (5 × S × P, 10 × S × P), 《碳排放权交易管理暂行条例》 Art. 24.

    Raises:
        ValueError: negative. Uint256Overflow: 10 × S × P above uint256 (Compliance.penaltyRange reverts).
    """
    _check_non_negative(shortfall_t=shortfall_t, price_fen=price_fen)
    return (checked_mul(PENALTY_MIN_MULTIPLE, shortfall_t, price_fen),
            checked_mul(PENALTY_MAX_MULTIPLE, shortfall_t, price_fen))


# --------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Benchmark:
    """One category of a benchmark set; values are the published decimals as strings."""

    category: str
    supply_t_per_mwh: str
    heat_t_per_gj: str
    correction: str = "1"
    gas_unit: bool = False

    def as_input(self) -> tuple[bytes, int, int, int, bool]:
        """ABI tuple of Allocation.BenchmarkInput (values × 1e6, exact or ValueError)."""
        return (category_id(self.category), to_scaled(self.supply_t_per_mwh), to_scaled(self.heat_t_per_gj),
                to_scaled(self.correction), self.gas_unit)


def to_scaled(decimal_text: str, scale: int = FACTOR_SCALE) -> int:
    """``"0.877"`` → 877000 at scale 1e6.

    Raises:
        ValueError: if the value is negative or not a multiple of 1/scale.
    """
    d = Decimal(decimal_text) * scale
    if d != d.to_integral_value() or d < 0:
        raise ValueError(f"{decimal_text!r} is not a non-negative multiple of 1/{scale}")
    return int(d)


@dataclass(frozen=True)
class BenchmarkPreset:
    """A benchmark set with its citation and how firm the values are."""

    from_year: int
    to_year: int
    pre_allocation_bps: int
    benchmarks: tuple[Benchmark, ...]
    citation: str
    status: str


#: 2019–2020 power sector (国环规气候〔2020〕3号). Benchmarks: ICAP on the Nov 2020 draft, final
#: inferred unchanged (PARTIAL); correction factors not retrieved → 1.0 (UNCONFIRMED);
#: pre-allocation 70 % of 2018 output (CONFIRMED-S).
BENCHMARKS_2019_2020 = BenchmarkPreset(
    2019, 2020, 7000,
    (Benchmark("COAL_GT300", "0.877", "0.126"), Benchmark("COAL_LE300", "0.979", "0.126"),
     Benchmark("COAL_UNCONVENTIONAL", "1.146", "0.126"), Benchmark("GAS", "0.392", "0.059", gas_unit=True)),
    "国环规气候〔2020〕3号 benchmarks per ICAP (Nov 2020 draft; final inferred unchanged, PARTIAL); "
    "correction factors UNCONFIRMED (1.0); pre-allocation 70% of 2018 output, 环办气候函〔2021〕492号 per ICAP",
    "PARTIAL",
)
# 2021–2022 (国环规气候〔2023〕1号): only third-party leads for the supply benchmarks and no heat
# benchmarks (china_rules.md §3b, UNCONFIRMED) — deliberately no preset.

#: Period citations used by the presets.
_CITE_GAP = "环办气候函〔2021〕492号 per ICAP: obligation ≤ allocation + 20% of verified emissions (CONFIRMED-S)"
_CITE_GAS = "环办气候函〔2021〕492号 per ICAP: gas units surrender at most their allocation (CONFIRMED-S)"
_CITE_CCER = "碳排放权交易管理办法（试行）Art. 29: CCER ≤ 5% of 应清缴配额 (CONFIRMED-P)"
_CITE_CCER_ELIG = ("MEE 通告 Oct 2023: CCER filed before 2017-03-14 usable until 2024-12-31 (CONFIRMED-S); "
                   "vintage and other eligibility rules UNCONFIRMED (no vintage bound)")


@dataclass(frozen=True)
class PeriodPreset:
    """Compliance period parameters (Compliance.PeriodParams) with one citation per group."""

    year: int
    params: dict[str, Any]
    citations: dict[str, str]
    unconfirmed: tuple[str, ...] = field(default=())

    def params_tuple(self) -> tuple[Any, ...]:
        """ABI tuple of Compliance.PeriodParams."""
        return tuple(self.params[k] for k in PERIOD_FIELDS)

    def citations_tuple(self) -> tuple[str, ...]:
        """ABI tuple of Compliance.PeriodCitations."""
        return tuple(self.citations[k] for k in CITATION_FIELDS)


PERIOD_FIELDS = ("deadline", "gapCapBps", "gasCapToAllocation", "ccerCapBps", "ceaVintageFrom", "ceaVintageTo",
                 "ccerVintageFrom", "ccerVintageTo", "projectRegisteredFrom", "projectRegisteredTo",
                 "creditingStartFrom", "creditingStartTo", "countsPurchasedElectricity")
CITATION_FIELDS = ("deadline", "gapCap", "gasCap", "ccerCap", "ceaVintages", "ccerEligibility", "purchasedElectricity")

#: 2021-12-31 17:00 +08:00 (环办气候函〔2021〕492号, CONFIRMED-P).
_DEADLINE_2019_2020 = 1_640_941_200
#: 2023-12-31 23:59:59 +08:00 ("all by 31 Dec 2023", CONFIRMED-S; the time of day is our choice).
_DEADLINE_2021_2022 = 1_704_038_399
#: Last second before 2017-03-14 00:00 +08:00: legacy CCER filing cut-off (MEE 通告 Oct 2023).
_LEGACY_CCER_FILED_BEFORE = 1_489_420_800 - 1


#: Purchased-electricity (indirect) emissions in E: 国环规气候〔2023〕1号 (2021–22) covers "化石燃料消费产生的
#: 直接排放和购入电力产生的间接排放" (CONFIRMED-P, china_rules.md §3b); the 2023–24 plan excludes them
#: (ICAP, CONFIRMED-S, §3c). For 2019–20 no text was found: counted as in 2021–22 (UNCONFIRMED).
_CITE_PURCHASED_2021 = ("国环规气候〔2023〕1号: 配额…包括化石燃料消费产生的直接排放和购入电力产生的间接排放 "
                        "(CONFIRMED-P); purchased electricity counts")
_CITE_PURCHASED_2019 = ("2019–2020: no text found (UNCONFIRMED); counted as under 国环规气候〔2023〕1号 for 2021–22 "
                        "(CONFIRMED-P); the 2023–24 plan excludes indirect emissions (ICAP, CONFIRMED-S)")


def _period(year: int, deadline: int, deadline_cite: str, vintages: tuple[int, int], vintage_cite: str,
            unconfirmed: tuple[str, ...], purchased_cite: str) -> PeriodPreset:
    return PeriodPreset(year, {
        "deadline": deadline, "gapCapBps": 2000, "gasCapToAllocation": True, "ccerCapBps": 500,
        "ceaVintageFrom": vintages[0], "ceaVintageTo": vintages[1],
        "ccerVintageFrom": 1, "ccerVintageTo": 65535,
        "projectRegisteredFrom": 0, "projectRegisteredTo": _LEGACY_CCER_FILED_BEFORE,
        "creditingStartFrom": 0, "creditingStartTo": 0, "countsPurchasedElectricity": True,
    }, {"deadline": deadline_cite, "gapCap": _CITE_GAP, "gasCap": _CITE_GAS, "ccerCap": _CITE_CCER,
        "ceaVintages": vintage_cite, "ccerEligibility": _CITE_CCER_ELIG, "purchasedElectricity": purchased_cite},
        unconfirmed)


#: Presets for the first two compliance cycles (one period per year; both years of a cycle share
#: the deadline and the CEA vintages of the cycle).
PERIOD_PRESETS: dict[int, PeriodPreset] = {
    y: _period(y, _DEADLINE_2019_2020,
               "环办气候函〔2021〕492号: 100% by 2021-12-31 17:00 (CONFIRMED-P)", (2019, 2020),
               "first cycle 2019–2020 allowances (国环规气候〔2020〕3号); vintage rule UNCONFIRMED",
               ("ceaVintages", "ccerVintages", "projectRegisteredTo", "countsPurchasedElectricity"),
               _CITE_PURCHASED_2019)
    for y in (2019, 2020)
} | {
    y: _period(y, _DEADLINE_2021_2022,
               "国环规气候〔2023〕1号 / ICAP: all by 2023-12-31 (CONFIRMED-S); time of day our choice", (2021, 2022),
               "second cycle 2021–2022 allowances (国环规气候〔2023〕1号); vintage rule UNCONFIRMED",
               ("deadline time of day", "ceaVintages", "ccerVintages", "projectRegisteredTo"),
               _CITE_PURCHASED_2021)
    for y in (2021, 2022)
}
