"""Exchange rule set checked by the settlement service before a trade is submitted on-chain.

The rules of the national carbon market's exchange (china_rules.md §5), each a field of
:class:`ExchangeRules` with its value and source (:data:`RULE_SOURCES`):

* listed trades (挂牌协议) must be < 100,000 t and priced within ±10 % of the previous close;
* block trades (大宗协议) must be ≥ 100,000 t and priced within ±30 % of the previous close;
* quantities move in steps of 1 t, prices in ticks of CNY 0.01 (1 fen);
* allowances bought today cannot be sold again today (T+1 for resale).

Previous close (china_rules.md §5 "Open and close price definitions"): a day's close is the
volume-weighted average price of all that day's listed trades; a day without listed trades
closes at the previous close. Block trades neither set the open nor the close.

Units: every price is an integer number of fen per tCO2e, every quantity whole tCO2e.

Assumptions (not in china_rules.md, stated here and in :data:`RULE_SOURCES`):

* The VWAP close is rounded half up to the price tick (prices are quoted in ticks).
* The band limits are the previous close × (1 ± ratio) rounded half up to the tick, the
  convention of China's securities exchanges (e.g. 上海证券交易所交易规则 §3.4.14: "计算结果按照
  四舍五入原则取至价格最小变动单位"); the SEEE's own rounding of its limit prices was not found
  (UNCONFIRMED). ``band_rounding="inside"`` instead keeps both limits inside the exact band.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from numbers import Rational
from typing import Literal

from ledger.accounting.settlement import AMOUNT_BOUND

BP = 10_000
"""Basis points in one (ratios are integer basis points: ±10 % = 1000 bp)."""


class TradeMode(StrEnum):
    """Trading mode of an exchange trade (协议转让, SEEE 公告 of 22 Jun 2021)."""

    LISTED = "listed"  # 挂牌协议交易
    BLOCK = "block"  # 大宗协议交易


@dataclass(frozen=True)
class RuleSource:
    """Where a rule's value comes from and how firm it is (china_rules.md status label)."""

    document: str
    clause: str
    status: str


RULE_SOURCES: dict[str, RuleSource] = {
    "listed_band_bp": RuleSource(
        "上海环境能源交易所《关于全国碳排放权交易相关事项的公告》(22 Jun 2021)",
        "挂牌协议交易的成交价格在上一个交易日收盘价的±10%之间确定 (china_rules.md §5)", "CONFIRMED-P"),
    "block_band_bp": RuleSource(
        "上海环境能源交易所《关于全国碳排放权交易相关事项的公告》(22 Jun 2021)",
        "大宗协议交易的成交价格在上一个交易日收盘价的±30%之间确定 (china_rules.md §5)", "CONFIRMED-S"),
    "block_min_t": RuleSource(
        "上海环境能源交易所《关于全国碳排放权交易相关事项的公告》(22 Jun 2021)",
        "挂牌协议交易单笔买卖最大申报数量应当小于10万吨; 大宗 ≥ 10万吨 (china_rules.md §5)",
        "CONFIRMED-P (listed < 100,000 t); CONFIRMED-S (block ≥ 100,000 t)"),
    "quantity_step_t": RuleSource(
        "《碳排放权交易管理规则(试行)》(MEE, 14 May 2021)",
        "买卖申报量的最小变动计量为1吨二氧化碳当量 (china_rules.md §5)", "CONFIRMED-S"),
    "price_tick_fen": RuleSource(
        "《碳排放权交易管理规则(试行)》(MEE, 14 May 2021)",
        "申报价格的最小变动计量为0.01元人民币 (china_rules.md §5)", "CONFIRMED-S"),
    "same_day_resale": RuleSource(
        "《碳排放权交易管理规则(试行)》(MEE, 14 May 2021)",
        "已买入的交易产品当日内不得再次卖出 (china_rules.md §5)", "CONFIRMED-S"),
    "close_price": RuleSource(
        "上海环境能源交易所《关于全国碳排放权交易相关事项的公告》(22 Jun 2021)",
        "收盘价为当日挂牌协议交易所有成交的加权平均价; 当日无成交的, 以上一个交易日收盘价为当日开盘价 "
        "(china_rules.md §5); rounding of the average to the tick: our assumption", "CONFIRMED-P"),
    "band_rounding": RuleSource(
        "上海证券交易所交易规则 §3.4.14 (analogy: securities-exchange convention)",
        "limit prices rounded half up to the tick; the SEEE's own rounding is not in china_rules.md",
        "UNCONFIRMED"),
    "sell_within_holding": RuleSource(
        "《碳排放权交易管理规则(试行)》(MEE, 14 May 2021)",
        "交易主体申报卖出交易产品的数量, 不得超出其交易账户内可交易数量 (china_rules.md §5)", "CONFIRMED-S"),
}
"""Source and firmness of every rule value of :class:`ExchangeRules` (china_rules.md §5)."""


@dataclass(frozen=True)
class ExchangeRules:
    """A configurable exchange rule set; defaults are china_rules.md §5 (see :data:`RULE_SOURCES`).

    Attributes:
        listed_band_bp: listed-trade price band around the previous close, basis points (1000 = ±10 %).
        block_band_bp: block-trade price band, basis points (3000 = ±30 %).
        block_min_t: smallest block trade, tCO2e (listed trades must be smaller).
        quantity_step_t: quantity step, tCO2e.
        price_tick_fen: price tick, fen per tCO2e.
        same_day_resale: whether allowances bought today may be sold today (False: T+1).
        band_rounding: ``"half_up"``: limits = previous close × (1 ± ratio) rounded half up to
            the tick (UNCONFIRMED convention, see module docstring); ``"inside"``: upper limit
            rounded down, lower limit rounded up, so no accepted price lies outside the exact band.
    """

    listed_band_bp: int = 1_000
    block_band_bp: int = 3_000
    block_min_t: int = 100_000
    quantity_step_t: int = 1
    price_tick_fen: int = 1
    same_day_resale: bool = False
    band_rounding: Literal["half_up", "inside"] = "half_up"

    def __post_init__(self) -> None:
        for name in ("listed_band_bp", "block_band_bp"):
            v = getattr(self, name)
            if not 0 <= v < BP:
                raise ValueError(f"{name} must be in 0…{BP - 1} basis points, got {v}")
        for name in ("block_min_t", "quantity_step_t", "price_tick_fen"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.band_rounding not in ("half_up", "inside"):
            raise ValueError(f"band_rounding must be 'half_up' or 'inside', got {self.band_rounding!r}")

    def mode_for(self, quantity_t: int) -> TradeMode:
        """The trading mode a quantity belongs to: block if ≥ ``block_min_t``, else listed."""
        return TradeMode.BLOCK if quantity_t >= self.block_min_t else TradeMode.LISTED

    def band(self, mode: TradeMode, previous_close_fen: int) -> tuple[int, int]:
        """Inclusive (lowest, highest) accepted price in fen for ``mode`` given the previous close.

        Raises:
            ValueError: if the previous close is not a positive whole number of ticks.
        """
        tick = self.price_tick_fen
        if previous_close_fen <= 0 or previous_close_fen % tick:
            raise ValueError(f"previous close must be a positive multiple of {tick} fen, got {previous_close_fen}")
        bp = self.listed_band_bp if mode is TradeMode.LISTED else self.block_band_bp
        hi_num, lo_num, den = previous_close_fen * (BP + bp), previous_close_fen * (BP - bp), BP * tick
        if self.band_rounding == "half_up":
            hi, lo = (2 * hi_num + den) // (2 * den), (2 * lo_num + den) // (2 * den)
        else:
            hi, lo = hi_num // den, -(-lo_num // den)
        return max(lo, 1) * tick, hi * tick

    def sources(self) -> dict[str, RuleSource]:
        """Source and status of each rule value (:data:`RULE_SOURCES`)."""
        return dict(RULE_SOURCES)


DEFAULT_RULES = ExchangeRules()
"""The rule set of china_rules.md §5."""


@dataclass(frozen=True)
class Trade:
    """One matched trade as the exchange hands it to settlement.

    Attributes:
        trade_id: the exchange's id of the trade.
        day: trading day (exchange calendar, UTC+08:00).
        seller, buyer: trading accounts (addresses or any hashable account key).
        quantity_t: tCO2e, whole tonnes.
        price_fen: fen per tCO2e.
        mode: listed or block; None means "by size" (:meth:`ExchangeRules.mode_for`).
        asset_id: token id traded (resale is tracked per account and asset).
    """

    trade_id: Hashable
    day: date
    seller: Hashable
    buyer: Hashable
    quantity_t: int
    price_fen: int
    mode: TradeMode | None = None
    asset_id: int = 0

    @property
    def value_fen(self) -> int:
        """Cash leg in fen: quantity × price."""
        return int(self.quantity_t * self.price_fen)


@dataclass(frozen=True)
class Violation:
    """Why a trade is refused.

    Attributes:
        code: stable machine code (``price_band``, ``quantity_step``, ``price_tick``,
            ``listed_too_large``, ``block_too_small``, ``same_day_resale``,
            ``exceeds_tradable``, ``not_positive``, ``wrong_day``, ``self_trade``).
        message: a sentence naming the values involved.
        rule: key of :data:`RULE_SOURCES` giving the rule's source, or "" for input validation.
    """

    code: str
    message: str
    rule: str = ""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class TradeRefused(ValueError):
    """A trade broke the exchange rules; ``violations`` lists every reason."""

    def __init__(self, trade: Trade, violations: list[Violation]) -> None:
        self.trade, self.violations = trade, violations
        super().__init__(f"trade {trade.trade_id!r} refused: " + "; ".join(map(str, violations)))


def _is_whole(x: object) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, int):
        return True
    if isinstance(x, Decimal):
        return x.is_finite() and x == x.to_integral_value()
    if isinstance(x, Rational):
        return Fraction(x).denominator == 1
    if isinstance(x, float):
        return x.is_integer()
    return False


def _is_positive_number(x: object) -> bool:
    if isinstance(x, bool) or not isinstance(x, (int, float, Decimal, Rational)):
        return False
    if isinstance(x, (float, Decimal)) and not (x == x and abs(x) != float("inf")):
        return False
    return x > 0


def close_price(listed: Iterable[tuple[int, int]], previous_close_fen: int, tick_fen: int = 1) -> int:
    """A day's close in fen: VWAP of its listed trades, else the previous close.

    Args:
        listed: ``(price_fen, quantity_t)`` of each listed (挂牌协议) trade of the day.
        previous_close_fen: the previous trading day's close, fen.
        tick_fen: price tick; the average is rounded half up to it (assumption, module docstring).

    Returns:
        ⌊Σ(p×q) / Σq / tick + ½⌋ × tick, or ``previous_close_fen`` if no listed quantity traded.
    """
    value = quantity = 0
    for price, qty in listed:
        value += price * qty
        quantity += qty
    return _vwap(value, quantity, previous_close_fen, tick_fen)


def _vwap(value_fen: int, quantity_t: int, previous_close_fen: int, tick_fen: int) -> int:
    if quantity_t == 0:
        return previous_close_fen
    return (2 * value_fen + quantity_t * tick_fen) // (2 * quantity_t * tick_fen) * tick_fen


@dataclass
class DayState:
    """One trading day of one market: the reference price and what each account did today.

    Attributes:
        day: the trading day.
        previous_close_fen: the previous trading day's close (the reference of both bands).
        rules: the rule set in force.
        opening_holdings: optional tradable balance of each ``(account, asset_id)`` at the
            start of the day (tCO2e). When given for a seller, a sale must fit in the opening
            balance minus what was already sold today (today's purchases are not tradable);
            when absent, any sale by an account that bought the same asset today is refused.
    """

    day: date
    previous_close_fen: int
    rules: ExchangeRules = DEFAULT_RULES
    opening_holdings: Mapping[tuple[Hashable, int], int] | None = None
    bought: Counter[tuple[Hashable, int]] = field(default_factory=Counter)
    sold: Counter[tuple[Hashable, int]] = field(default_factory=Counter)
    listed_value_fen: int = 0
    listed_quantity_t: int = 0
    open_fen: int | None = None
    trades: int = 0

    def __post_init__(self) -> None:
        self.rules.band(TradeMode.LISTED, self.previous_close_fen)  # validates the reference

    # ------------------------------------------------------------------ checks
    def check(self, trade: Trade) -> list[Violation]:
        """Every rule ``trade`` breaks today (empty list: acceptable). Does not record it."""
        r = self.rules
        out: list[Violation] = []
        q, p = trade.quantity_t, trade.price_fen
        if trade.day != self.day:
            out.append(Violation("wrong_day", f"trade is dated {trade.day}, the market is trading {self.day}"))
        if trade.seller == trade.buyer:
            out.append(Violation("self_trade", f"seller and buyer are the same account {trade.seller!r}"))
        q_ok = p_ok = False
        if not _is_positive_number(q):
            out.append(Violation("not_positive", f"quantity must be a positive number of tCO2e, got {q!r}"))
        elif not _is_whole(q) or int(q) % r.quantity_step_t:
            out.append(Violation("quantity_step", f"quantity {q} t is not a multiple of the {r.quantity_step_t} t step",
                                 "quantity_step_t"))
        else:
            q_ok = True
        if not _is_positive_number(p):
            out.append(Violation("not_positive", f"price must be a positive number of fen, got {p!r}"))
        elif not _is_whole(p) or int(p) % r.price_tick_fen:
            out.append(Violation("price_tick", f"price {p} fen is not a multiple of the {r.price_tick_fen} fen tick "
                                 f"(CNY 0.01)", "price_tick_fen"))
        else:
            p_ok = True
        for name, v, ok in (("quantity", q, q_ok), ("price", p, p_ok)):
            if ok and int(v) >= AMOUNT_BOUND:  # Settlement refuses it (REASON_AMOUNT_OVERFLOW)
                out.append(Violation("amount_overflow", f"{name} {v} is not below 2^128, the settlement contract's bound"))
        qi = int(q) if q_ok else None
        mode = trade.mode or (r.mode_for(qi) if qi is not None else TradeMode.LISTED)
        if qi is not None:
            if mode is TradeMode.LISTED and qi >= r.block_min_t:
                out.append(Violation("listed_too_large", f"listed trades must be below {r.block_min_t:,} t, got {qi:,} t",
                                     "block_min_t"))
            if mode is TradeMode.BLOCK and qi < r.block_min_t:
                out.append(Violation("block_too_small", f"block trades must be at least {r.block_min_t:,} t, got {qi:,} t",
                                     "block_min_t"))
        if p_ok:
            lo, hi = r.band(mode, self.previous_close_fen)
            pi = int(p)
            if not lo <= pi <= hi:
                bp = r.listed_band_bp if mode is TradeMode.LISTED else r.block_band_bp
                out.append(Violation(
                    "price_band", f"{mode.value} price {pi} fen is outside ±{bp / 100:g} % of the previous close "
                    f"{self.previous_close_fen} fen (accepted {lo}…{hi} fen)",
                    "listed_band_bp" if mode is TradeMode.LISTED else "block_band_bp"))
        if qi is not None:
            out.extend(self._resale(trade, qi))
        return out

    def _resale(self, trade: Trade, qty: int) -> list[Violation]:
        key = (trade.seller, trade.asset_id)
        bought, sold = self.bought[key], self.sold[key]
        if self.opening_holdings is not None and key in self.opening_holdings:
            tradable = self.opening_holdings[key] - sold
            if qty > tradable:
                if self.rules.same_day_resale and qty <= tradable + bought:
                    return []
                code, rule = ("same_day_resale", "same_day_resale") if bought and not self.rules.same_day_resale \
                    else ("exceeds_tradable", "sell_within_holding")
                return [Violation(code, f"seller {trade.seller!r} may sell {max(tradable, 0)} t today (opening "
                                  f"{self.opening_holdings[key]} t, sold {sold} t; {bought} t bought today are not "
                                  f"tradable until the next trading day), asked {qty} t", rule)]
            return []
        if bought and not self.rules.same_day_resale:
            return [Violation("same_day_resale", f"seller {trade.seller!r} bought {bought} t of asset {trade.asset_id} "
                              f"today and may not sell it before the next trading day", "same_day_resale")]
        return []

    # ------------------------------------------------------------------ recording
    def record(self, trade: Trade) -> None:
        """Record an accepted trade (purchases, sales, listed VWAP and the open)."""
        q, p = int(trade.quantity_t), int(trade.price_fen)
        self.bought[(trade.buyer, trade.asset_id)] += q
        self.sold[(trade.seller, trade.asset_id)] += q
        if (trade.mode or self.rules.mode_for(q)) is TradeMode.LISTED:
            if self.open_fen is None:
                self.open_fen = p
            self.listed_value_fen += p * q
            self.listed_quantity_t += q
        self.trades += 1

    def accept(self, trade: Trade) -> None:
        """Check ``trade`` and record it.

        Raises:
            TradeRefused: listing every violation (nothing is recorded then).
        """
        violations = self.check(trade)
        if violations:
            raise TradeRefused(trade, violations)
        self.record(trade)

    # ------------------------------------------------------------------ prices
    @property
    def open_price_fen(self) -> int:
        """Open: first listed trade's price, else the previous close (china_rules.md §5)."""
        return self.previous_close_fen if self.open_fen is None else self.open_fen

    @property
    def close_price_fen(self) -> int:
        """Close: VWAP of today's listed trades (half up to the tick), else the previous close."""
        return _vwap(self.listed_value_fen, self.listed_quantity_t, self.previous_close_fen, self.rules.price_tick_fen)

    def band(self, mode: TradeMode = TradeMode.LISTED) -> tuple[int, int]:
        """Today's inclusive accepted price range in fen for ``mode``."""
        return self.rules.band(mode, self.previous_close_fen)

    def next_day(self, day: date, opening_holdings: Mapping[tuple[Hashable, int], int] | None = None) -> DayState:
        """The following trading day's state: reference = today's close, nothing bought yet."""
        if day <= self.day:
            raise ValueError(f"next trading day {day} is not after {self.day}")
        return replace(self, day=day, previous_close_fen=self.close_price_fen, opening_holdings=opening_holdings,
                       bought=Counter(), sold=Counter(), listed_value_fen=0, listed_quantity_t=0, open_fen=None, trades=0)


def check(trade: Trade, state: DayState) -> list[Violation]:
    """Every exchange rule ``trade`` breaks in the market day ``state`` (empty list: acceptable)."""
    return state.check(trade)
