"""Compliance-year simulation: participants, obligations and a seeded trading plan.

The plan is a pure function of (participants, trading days, seed, rule set, cadence):

1. **Obligation** (应清缴配额) of each unit, whole tCO2e (:func:`obligation_t`, china_rules.md §3a,
   the Compliance contract's formula via ``ledger.accounting.compliance.obligation_tonnes``): coal units
   surrender min(E, A + ⌊E × 2000 / 10000⌋) (履约缺口上限, 20 %); gas units min(E, A) (燃气机组
   exemption). Both rules CONFIRMED-S (ICAP on 环办气候函〔2021〕492号).
2. **Buyers** need obligation − allocation (> 0), **sellers** offer allocation − obligation (> 0).
   The allocation is the whole final allocation, issued before the first trading day.
3. **Spreading rule** (ours, documented): every unit trades on every ``cadence``-th trading day
   of the window, starting at a seeded phase in 0…cadence−1. On each of its trading days a unit
   orders ⌈remaining ÷ its remaining trading days⌉ tonnes, so its last trading day orders all
   that is left; what a day cannot match carries over.
4. **Matching**: each day the active buyers and sellers are shuffled by the seeded generator
   and paired in that order (two pointers): each trade is min(bid left, offer left), so a day
   has at most buyers + sellers − 1 trades. Quantities ≥ 100,000 t are block trades (大宗协议),
   smaller ones listed (挂牌协议).
5. **Price**: the day's real price (GCP), clamped into the day's listed band around the
   simulated market's previous close (VWAP of its previous day's listed trades, china_rules.md
   §5); a clamped day is flagged. The first day's reference is the real price of the trading
   day before the window (else the first day's own price).
6. **Checks**: every trade passes the exchange rule set (:mod:`ledger.accounting.exchange_rules`) with
   each account's opening holdings, so T+1 resale and "sell within holding" are checked, not
   assumed (buyers never sell, so none is ever refused — a refusal raises :class:`PlanError`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from ledger.accounting.compliance import PERIOD_PRESETS, obligation_tonnes
from ledger.accounting.exchange_rules import (
    DEFAULT_RULES,
    DayState,
    ExchangeRules,
    Trade,
    TradeMode,
    TradeRefused,
)
from ledger.datasets.ampd import SimUnit
from ledger.datasets.prices import DailyPrice

GAP_CAP_BPS: int = PERIOD_PRESETS[2019].params["gapCapBps"]
"""Coal units' obligation is capped at allocation + 20 % (2000 bps) of verified emissions (履约缺口上限,
2019–2020 plan; china_rules.md §3a, CONFIRMED-S via ICAP on 环办气候函〔2021〕492号)."""
GAS_CAP_TO_ALLOCATION: bool = PERIOD_PRESETS[2019].params["gasCapToAllocation"]
"""Gas units surrender at most their allocation (china_rules.md §3a, CONFIRMED-S)."""


class PlanError(RuntimeError):
    """The planner produced a trade the exchange rules refuse (a bug, never expected)."""


def obligation_t(category: str, emissions_t: int, allocation_t: int) -> int:
    """Surrender obligation in whole tCO2e, as Compliance.obligationOf computes it
    (``ledger.accounting.compliance.obligation_tonnes`` with the 2019–2020 period rules):

    * coal: min(E, A + ⌊E × 2000 / 10000⌋) — 履约缺口上限 (CONFIRMED-S);
    * gas: min(E, A) — gas units surrender at most their free allocation (CONFIRMED-S).

    Raises:
        ValueError: unknown category or a negative amount.
    """
    if category not in ("coal", "gas"):
        raise ValueError(f"unknown category {category!r}")
    return obligation_tonnes(emissions_t, allocation_t, GAP_CAP_BPS, GAS_CAP_TO_ALLOCATION, category == "gas")


@dataclass(frozen=True)
class Participant:
    """One simulated enterprise: ``key`` (ORISPL/unit id), category, whole tonnes."""

    key: str
    category: str
    emissions_t: int
    allocation_t: int

    @property
    def obligation_t(self) -> int:
        return obligation_t(self.category, self.emissions_t, self.allocation_t)

    @property
    def need_t(self) -> int:
        """Tonnes to buy: obligation − allocation, at least 0."""
        return max(self.obligation_t - self.allocation_t, 0)

    @property
    def surplus_t(self) -> int:
        """Tonnes to sell: allocation − obligation, at least 0."""
        return max(self.allocation_t - self.obligation_t, 0)


def participants_from(units: Iterable[SimUnit]) -> list[Participant]:
    """Participants of covered AMPD units (whole-tonne emissions and allocation)."""
    return [Participant(u.key, u.category, u.emissions_t, u.allocation_t) for u in units]


@dataclass(frozen=True)
class PlannedTrade:
    """One trade of the plan: integer tonnes and fen; ``trade_id`` unique in the plan (1, 2, …)."""

    trade_id: int
    day: date
    seller: str
    buyer: str
    quantity_t: int
    price_fen: int
    mode: TradeMode

    @property
    def value_fen(self) -> int:
        return self.quantity_t * self.price_fen


@dataclass
class DayPlan:
    """One trading day: real price, executed price, reference and trades."""

    day: date
    real_price_fen: int
    price_fen: int
    previous_close_fen: int
    clamped: bool
    trades: list[PlannedTrade] = field(default_factory=list)
    close_fen: int = 0


@dataclass
class TradingPlan:
    """The whole plan and its totals."""

    seed: int
    cadence: int
    days: list[DayPlan]
    need_t: dict[str, int]
    surplus_t: dict[str, int]
    unmet_t: dict[str, int]
    unsold_t: dict[str, int]

    @property
    def trades(self) -> list[PlannedTrade]:
        return [t for d in self.days for t in d.trades]

    @property
    def trade_count(self) -> int:
        return sum(len(d.trades) for d in self.days)

    @property
    def settled_t(self) -> int:
        return sum(t.quantity_t for d in self.days for t in d.trades)

    @property
    def settled_fen(self) -> int:
        return sum(t.value_fen for d in self.days for t in d.trades)

    def _total_by(self, party: str, amount: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.days:
            for t in d.trades:
                key = getattr(t, party)
                out[key] = out.get(key, 0) + getattr(t, amount)
        return out

    def cash_needed_fen(self) -> dict[str, int]:
        """What each buyer pays over the whole plan, fen (the cash to deposit beforehand)."""
        return self._total_by("buyer", "value_fen")

    def bought_t(self) -> dict[str, int]:
        """Tonnes bought per buyer."""
        return self._total_by("buyer", "quantity_t")

    def sold_t(self) -> dict[str, int]:
        """Tonnes sold per seller."""
        return self._total_by("seller", "quantity_t")

    def summary(self) -> dict[str, int]:
        return {"trading_days": len(self.days), "trades": self.trade_count, "settled_t": self.settled_t,
                "settled_fen": self.settled_fen, "buyers": len(self.need_t), "sellers": len(self.surplus_t),
                "need_t": sum(self.need_t.values()), "surplus_t": sum(self.surplus_t.values()),
                "unmet_t": sum(self.unmet_t.values()), "unsold_t": sum(self.unsold_t.values()),
                "clamped_days": sum(1 for d in self.days if d.clamped)}


def _own_days_left(k: int, n_days: int, phase: int, cadence: int) -> int:
    """Trading days j in [k, n_days) with (j + phase) % cadence == 0, given k is one of them."""
    return (n_days - 1 - k) // cadence + 1


def plan_trades(participants: Sequence[Participant], prices: Sequence[DailyPrice], seed: int, *,
                rules: ExchangeRules = DEFAULT_RULES, cadence: int = 1,
                previous_close_fen: int | None = None, asset_id: int = 0) -> TradingPlan:
    """The seeded trading plan (rule: module docstring).

    Args:
        participants: the simulated enterprises (keys unique).
        prices: the trading days, in date order, with the real price of each.
        seed: fixes the phases and the daily matching order.
        rules: exchange rule set every trade must pass.
        cadence: a unit trades every ``cadence``-th trading day (1: every day).
        previous_close_fen: reference of the first day (default: its own price).
        asset_id: token id traded (for the resale rule's bookkeeping).

    Raises:
        ValueError: duplicate keys, unordered or duplicate days, cadence < 1.
        PlanError: a planned trade broke the rule set (a bug).
    """
    if cadence < 1:
        raise ValueError(f"cadence must be >= 1, got {cadence}")
    keys = [p.key for p in participants]
    if len(set(keys)) != len(keys):
        raise ValueError("participant keys must be unique")
    if any(b.day <= a.day for a, b in zip(prices, prices[1:])):
        raise ValueError("trading days must be strictly increasing")
    rng = random.Random(seed)
    ordered = sorted(participants, key=lambda p: p.key)
    need = {p.key: p.need_t for p in ordered if p.need_t > 0}
    surplus = {p.key: p.surplus_t for p in ordered if p.surplus_t > 0}
    phase = {p.key: rng.randrange(cadence) for p in ordered}
    holdings = {p.key: p.allocation_t for p in ordered}
    remaining_need, remaining_offer = dict(need), dict(surplus)
    days: list[DayPlan] = []
    n = len(prices)
    trade_id = 0
    state: DayState | None = None
    for k, dp in enumerate(prices):
        opening = {(key, asset_id): h for key, h in holdings.items()}
        if state is None:
            state = DayState(dp.day, previous_close_fen or dp.price_fen, rules, opening)
        else:
            state = state.next_day(dp.day, opening)
        lo, hi = state.band(TradeMode.LISTED)
        price = min(max(dp.price_fen, lo), hi)
        plan = DayPlan(dp.day, dp.price_fen, price, state.previous_close_fen, price != dp.price_fen)
        bids = [[key, math.ceil(q / _own_days_left(k, n, phase[key], cadence))]
                for key, q in remaining_need.items() if q > 0 and (k + phase[key]) % cadence == 0]
        asks = [[key, math.ceil(q / _own_days_left(k, n, phase[key], cadence))]
                for key, q in remaining_offer.items() if q > 0 and (k + phase[key]) % cadence == 0]
        rng.shuffle(bids)
        rng.shuffle(asks)
        i = j = 0
        while i < len(bids) and j < len(asks):
            buyer, seller = bids[i][0], asks[j][0]
            q = min(bids[i][1], asks[j][1])
            trade_id += 1
            mode = rules.mode_for(q)
            t = PlannedTrade(trade_id, dp.day, seller, buyer, q, price, mode)
            try:
                state.accept(Trade(trade_id, dp.day, seller, buyer, q, price, mode, asset_id))
            except TradeRefused as e:
                raise PlanError(str(e)) from e
            plan.trades.append(t)
            bids[i][1] -= q
            asks[j][1] -= q
            remaining_need[buyer] -= q
            remaining_offer[seller] -= q
            holdings[buyer] += q
            holdings[seller] -= q
            if bids[i][1] == 0:
                i += 1
            if asks[j][1] == 0:
                j += 1
        plan.close_fen = state.close_price_fen
        days.append(plan)
    return TradingPlan(seed, cadence, days, need, surplus, {k: v for k, v in remaining_need.items() if v > 0},
                       {k: v for k, v in remaining_offer.items() if v > 0})
