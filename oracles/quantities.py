"""Quantity registry for plant data: what each measured quantity is, its unit, its integer
representation and its plausibility bounds, with the source of every bound.

A reading's physical value is ``value × 10^scale`` in the quantity's ``unit``
(:class:`ledger.meter_data.reading.Reading`). Sources report other units (MW, MMBtu, short tons); each
:class:`QuantitySpec` names the source unit and the exact factor that converts it to ``unit``,
and :meth:`QuantitySpec.to_units` does the conversion on the source's decimal string (no binary
floating point), rounding half up where the product is not an integer.

Code 1 (average active power in W) is the one the oracle node already checks
(:data:`ledger.meter_data.quantities.ACTIVE_POWER_W`); its entry here is built from that object so the two
can never disagree (tests/test_data_quality.py also asserts it). The oracle node checks every code
here through :data:`NODE_QUANTITIES` (:func:`node_quantity` of each spec).

Bounds marked ``"our choice"`` are engineering judgement stated with their reasoning, not
regulatory values; no Chinese rule in ../shared/data/china_rules.md sets plausibility bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

from ledger.meter_data.quantities import ACTIVE_POWER_W, Quantity

__all__ = [
    "ACTIVE_POWER",
    "CO2_MASS",
    "ENERGY_REGISTER",
    "GENERATION_POWER",
    "GROSS_LOAD",
    "HEAT_INPUT",
    "INTERVAL_ENERGY",
    "PJM_GENERATION",
    "QUANTITY_SPECS",
    "MMBTU_TO_MJ",
    "SHORT_TON_TO_KG",
    "QuantitySpec",
    "QuantityValueError",
    "node_quantity",
    "spec",
]

#: 1 MMBtu = 10^6 International Table Btu; 1 Btu_IT = 1055.05585262 J exactly (ISO 31-4 /
#: NIST SP 811 App. B.8), so 1 MMBtu = 1055.05585262 MJ exactly.
MMBTU_TO_MJ: Final = Decimal("1055.05585262")
#: 1 short ton = 2000 lb; 1 lb = 0.45359237 kg exactly (international yard and pound, 1959;
#: NIST SP 811 App. B.8), so 1 short ton = 907.18474 kg exactly.
SHORT_TON_TO_KG: Final = Decimal("907.18474")

_INT64_MAX: Final = 2**63 - 1


class QuantityValueError(ValueError):
    """A source value is not a decimal number, or converts outside int64."""


@dataclass(frozen=True, slots=True)
class QuantitySpec(Quantity):
    """One measured quantity: the oracle node's :class:`ledger.meter_data.quantities.Quantity`
    (code, name, unit with scale 0 here, plausible range, longest interval) and where its values
    come from.

    Attributes:
        source_unit: the unit the source files report (e.g. ``"MW"``, ``"short ton"``).
        source_factor: exact number of ``unit`` per ``source_unit``.
        bound_source: where the bounds come from (document, or "our choice: <reason>").
        kind: ``"rate"`` (average over the interval), ``"amount"`` (total over the interval) or
            ``"register"`` (instantaneous cumulative counter reading).
    """

    source_unit: str
    source_factor: Decimal
    bound_source: str
    kind: str

    def to_units(self, text: str) -> tuple[int, bool]:
        """Convert a source decimal string to integer ``unit``.

        Args:
            text: the value as written in the source, in ``source_unit`` (e.g. ``"100.273"``,
                ``"2.85E+07"``); surrounding spaces allowed.

        Returns:
            ``(value, exact)``: the value in ``unit`` rounded half up, and whether no rounding
            was needed.

        Raises:
            QuantityValueError: not a finite decimal number, or the result does not fit int64.
        """
        try:
            d = Decimal(text.strip())
        except InvalidOperation:
            raise QuantityValueError(f"{text!r} is not a decimal number") from None
        if not d.is_finite():
            raise QuantityValueError(f"{text!r} is not a finite number")
        product = d * self.source_factor
        value = int(product.to_integral_value(rounding=ROUND_HALF_UP))
        if abs(value) > _INT64_MAX:
            raise QuantityValueError(f"{text!r} {self.source_unit} does not fit int64 {self.unit}")
        return value, product == value

    def plausible(self, value: int) -> bool:
        """Whether ``value`` (in ``unit``) lies within ``[minimum, maximum]``."""
        return self.minimum <= value <= self.maximum


#: Code 1, unchanged from :data:`ledger.meter_data.quantities.ACTIVE_POWER_W` (the oracle node's rule:
#: 0 ≤ W ≤ 1 GW, intervals up to 3600 s). Source unit kW (UCI ``Global_active_power``).
ACTIVE_POWER: Final = QuantitySpec(
    ACTIVE_POWER_W.code, ACTIVE_POWER_W.name, ACTIVE_POWER_W.unit, ACTIVE_POWER_W.minimum,
    ACTIVE_POWER_W.maximum, ACTIVE_POWER_W.max_interval_s, "kW", Decimal(1000),
    "ledger/quantities.py ACTIVE_POWER_W (our choice: 1 GW, above any single purchased-"
    "electricity meter; negative power refused, export has its own register)", "rate",
)

#: CEMS gross electrical load, average over the hour. Source: AMPD ``GLOAD (MW)``; kW keeps
#: MW values with up to 3 decimals exact.
GROSS_LOAD: Final = QuantitySpec(
    10, "gross_load", "kW", 0, 2_000_000, 3_600, "MW", Decimal(1000),
    "our choice: 0..2,000 MW per unit; no single generating unit in service exceeds 2 GW",
    "rate",
)

#: CEMS heat input, total over the hour (MJ per reading interval; DESIGN.md §5: heat in MJ).
#: Source: AMPD ``HEAT_INPUT (mmBtu)``.
HEAT_INPUT: Final = QuantitySpec(
    11, "heat_input", "MJ", 0, 21_101_117, 3_600, "MMBtu", MMBTU_TO_MJ,
    "our choice: 0..20,000 MMBtu per hour (21,101,117 MJ) = the GROSS_LOAD bound (2 GW) at a "
    "heat rate of 10 MMBtu/MWh, poorer than large fossil units run at",
    "amount",
)

#: CEMS CO2 mass, total over the hour, integer kg (DESIGN.md §5: emissions in kgCO2).
#: Source: AMPD ``CO2_MASS (tons)`` = short tons.
CO2_MASS: Final = QuantitySpec(
    12, "co2_mass", "kg", 0, 2_721_554, 3_600, "short ton", SHORT_TON_TO_KG,
    "our choice: 0..3,000 short tons per hour (2,721,554 kg): a 2 GW unit (GROSS_LOAD bound) "
    "at 1.5 short tons CO2/MWh, above the CO2 intensity of any fossil unit",
    "amount",
)

#: Cumulative energy register (an electricity meter's kWh/Wh counter): instantaneous, only
#: increases; a decrease is quarantined as ``counter_reset_or_tamper`` (oracles/formats/counters.py).
ENERGY_REGISTER: Final = QuantitySpec(
    13, "energy_register", "Wh", 0, _INT64_MAX, 0, "Wh", Decimal(1),
    "our choice: any non-negative int64 (a register only needs to be monotonic; the plausible "
    "rate of increase is checked on INTERVAL_ENERGY)",
    "register",
)

#: Energy between two register readings, Wh. Its bound is the code-1 power bound over one hour
#: (the longest interval): 1 GW × 1 h. Counters loader also checks the rate per interval.
INTERVAL_ENERGY: Final = QuantitySpec(
    14, "interval_energy", "Wh", 0, ACTIVE_POWER_W.maximum, 3_600, "Wh", Decimal(1),
    "ledger/quantities.py ACTIVE_POWER_W maximum (1 GW) × 1 h; the counters loader checks "
    "Wh × 3600 / seconds ≤ 1 GW for every interval",
    "amount",
)

#: PJM hourly generation by fuel type (the whole RTO's output of one fuel), average MW over the
#: hour. Source: PJM Data Miner ``mw``.
PJM_GENERATION: Final = QuantitySpec(
    15, "pjm_fuel_generation", "kW", 0, 200_000_000, 3_600, "MW", Decimal(1000),
    "our choice: 0..200,000 MW, a round figure above the whole PJM fleet's output; negative "
    "values (net station use) are quarantined, not clipped",
    "rate",
)

#: A renewable plant's generation meter (green electricity certificates, issue 13): average
#: generated active power in W over the reading's interval, so the oracle node's batch energy
#: (Wh = ⌊Σ(W × s)/3600 + ½⌋, DESIGN.md §5) is the plant's generated energy.
#: GreenCertificates.GENERATION_QUANTITY_CODE is this code. Source: PJM Data Miner ``mw`` (exact: 1 MW = 10^6 W).
GENERATION_POWER: Final = QuantitySpec(
    16, "generation_power_avg", "W", 0, PJM_GENERATION.maximum * 1000, 3_600, "MW", Decimal(1_000_000),
    "our choice: the PJM_GENERATION bound (200,000 MW), since a PJM fuel series stands for one plant; "
    "negative values (net station use) are refused, not clipped",
    "rate",
)

#: Every quantity by code.
QUANTITY_SPECS: Final[dict[int, QuantitySpec]] = {
    q.code: q
    for q in (ACTIVE_POWER, GROSS_LOAD, HEAT_INPUT, CO2_MASS, ENERGY_REGISTER, INTERVAL_ENERGY,
              PJM_GENERATION, GENERATION_POWER)
}


def spec(code: int) -> QuantitySpec:
    """Look up a quantity by code.

    Raises:
        KeyError: naming the unknown code and the known ones.
    """
    try:
        return QUANTITY_SPECS[code]
    except KeyError:
        raise KeyError(f"unknown quantityCode {code}; known: {sorted(QUANTITY_SPECS)}") from None


def node_quantity(code: int) -> Quantity:
    """The :class:`ledger.meter_data.quantities.Quantity` the oracle node needs for ``code``.

    Registers (kind ``"register"``) are instantaneous and have no interval; the node's
    ``max_interval_s`` for them is 3600 (a reading spans the time since the previous one).

    Raises:
        KeyError: unknown code.
    """
    q = spec(code)
    return Quantity(q.code, q.name, q.unit, q.minimum, q.maximum, q.max_interval_s or 3_600)


#: The oracle node's table: every code above as the ``ledger.meter_data.quantities.Quantity`` the node checks
#: (unit, plausibility bounds, longest interval) — so CEMS, register and PJM readings are ingested
#: by the same node as the UCI minutes.
NODE_QUANTITIES: Final[dict[int, Quantity]] = {code: node_quantity(code) for code in QUANTITY_SPECS}
