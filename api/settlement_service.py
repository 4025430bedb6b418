"""The exchange's settlement service: checks matched trades against the exchange rule set
(:mod:`ledger.accounting.exchange_rules`, china_rules.md §5) before anything is sent, submits the accepted
ones to ``Settlement.settle`` as one delivery-versus-payment transaction, and keeps every trade's
outcome in the API store (``exchange_trades``).

Reference price: the previous close of an asset is the close (VWAP of listed trades, half up to
the tick) of the latest earlier trading day on which this service settled listed trades of it; a
market without such history needs the caller's ``reference_close_fen`` (e.g. the exchange's
published close), otherwise the batch is refused with :class:`NoReferencePrice`.
Same-day resale is judged on the trades this service settled today (T+1 resale rule).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.store import ExchangeReferenceClose, ExchangeTrade
from ledger.accounting.exchange_rules import (
    DEFAULT_RULES,
    DayState,
    ExchangeRules,
    Trade,
    TradeMode,
    close_price,
)
from ledger.accounting.settlement import SignedOrder, settlement_domain
from ledger.accounting.settlement import Trade as SettlementTrade
from ledger.chain.client import Call, TxResult
from ledger.contracts._generated.settlement import TradeAlreadySettled, TradeSettled, TradeSkipped
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import Eip712Domain

#: Trading-day clock of the national exchange: Beijing time, UTC+08:00 (china_rules.md §5 trading hours).
EXCHANGE_TZ = timezone(timedelta(hours=8))


class NoReferencePrice(ValueError):
    """An asset has no previous close in the store and the request gave none."""


class ReferencePriceConflict(ValueError):
    """A reference close differs from the one already given for that asset and day, or is not positive."""


class DuplicateTradeIds(ValueError):
    """The same trade id appears twice in one batch."""


@dataclass(frozen=True)
class MatchedTrade:
    """One matched trade as the exchange hands it over: the fill of two signed orders
    (:class:`ledger.accounting.settlement.Trade`), its derived id (what ``Settlement`` records)
    and the exchange's trading mode: ``listed`` / ``block``, or None for "by size"
    (≥ 100,000 t is a block trade)."""

    trade: SettlementTrade
    trade_id: bytes
    mode: str | None = None

    @classmethod
    def of(cls, domain: Eip712Domain, buy: SignedOrder, sell: SignedOrder, quantity: int, price_fen: int,
           fill_index: int = 0, buyer_fee_fen: int = 0, seller_fee_fen: int = 0, mode: str | None = None) -> MatchedTrade:
        """The fill of ``buy`` against ``sell``; its id from the Settlement ``domain``."""
        t = SettlementTrade(buy, sell, quantity, price_fen, fill_index, buyer_fee_fen, seller_fee_fen)
        return cls(t, t.trade_id(domain), mode)

    @property
    def key(self) -> str:
        """The trade id as stored and answered: ``0x`` + 64 lower-case hex."""
        return "0x" + self.trade_id.hex()

    @property
    def seller(self) -> str:
        """Seller's checksummed account (the sell order's)."""
        return to_checksum_address(self.trade.seller)

    @property
    def buyer(self) -> str:
        """Buyer's checksummed account (the buy order's)."""
        return to_checksum_address(self.trade.buyer)

    @property
    def asset_id(self) -> int:
        """Traded asset id."""
        return self.trade.asset_id

    @property
    def quantity(self) -> int:
        """Whole tCO2e."""
        return self.trade.quantity

    @property
    def price_fen(self) -> int:
        """Fen per tCO2e."""
        return self.trade.price_fen

    @property
    def buyer_fee_fen(self) -> int:
        """Buyer's fee, fen."""
        return self.trade.buyer_fee_fen

    @property
    def seller_fee_fen(self) -> int:
        """Seller's fee, fen."""
        return self.trade.seller_fee_fen

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI tuple of ``Settlement.Trade``."""
        return self.trade.as_tuple()


def trading_day(ts: float | None = None) -> date:
    """The exchange's trading day (UTC+08:00) of UTC time ``ts`` (now if None)."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).astimezone(EXCHANGE_TZ).date()


class SettlementService:
    """Rule check, submission and bookkeeping of trade batches for one deployment.

    Args:
        dep: the deployment (its ``Settlement`` contract settles).
        store: the API store engine (``exchange_trades``, migrated).
        rules: the exchange rule set in force.
        clock: UTC seconds now (tests pass a fixed clock).
    """

    def __init__(self, dep: Deployment, store: Engine, rules: ExchangeRules = DEFAULT_RULES,
                 clock: Callable[[], float] = time.time) -> None:
        self.dep, self.store, self.rules, self.clock = dep, store, rules, clock
        #: EIP-712 domain of the deployment's Settlement (members sign their orders in it).
        self.domain = settlement_domain(dep.client.chain_id, dep.c["Settlement"].address)

    # ------------------------------------------------------------------ prices and state
    def previous_close(self, asset_id: int, day: date) -> int | None:
        """Close (fen) of the latest trading day before ``day`` with settled listed trades of the
        asset, or None."""
        with Session(self.store) as s:
            last = s.scalar(select(func.max(ExchangeTrade.trade_day)).where(
                ExchangeTrade.asset_id == str(asset_id), ExchangeTrade.trade_day < day.isoformat(),
                ExchangeTrade.status == "settled", ExchangeTrade.mode == "listed"))
            if last is None:
                return None
            rows = s.execute(select(ExchangeTrade.price_fen, ExchangeTrade.quantity).where(
                ExchangeTrade.asset_id == str(asset_id), ExchangeTrade.trade_day == last,
                ExchangeTrade.status == "settled", ExchangeTrade.mode == "listed")).all()
        return close_price([(int(p), int(q)) for p, q in rows], 0, self.rules.price_tick_fen)

    def day_state(self, asset_id: int, day: date, reference_close_fen: int | None) -> DayState:
        """Today's market state of ``asset_id``: reference price and today's settled trades replayed.

        Raises:
            NoReferencePrice: no stored close and no ``reference_close_fen``.
        """
        ref = self.previous_close(asset_id, day)
        if ref is None:
            ref = self._reference(asset_id, day, reference_close_fen)
        st = DayState(day, int(ref), self.rules)
        with Session(self.store) as s:
            for t in s.scalars(select(ExchangeTrade).where(ExchangeTrade.asset_id == str(asset_id), ExchangeTrade.trade_day == day.isoformat(),
                                                           ExchangeTrade.status == "settled").order_by(ExchangeTrade.id)):
                st.record(Trade(t.trade_id, day, t.seller.lower(), t.buyer.lower(), int(t.quantity), int(t.price_fen),
                                TradeMode(t.mode), asset_id))
        return st

    def _reference(self, asset_id: int, day: date, given: int | None) -> int:
        """The exchange-given previous close of ``asset_id`` for ``day``: the stored one, else
        ``given`` (then stored). Raises NoReferencePrice (none) or ValueError (a different one)."""
        with Session(self.store) as s, s.begin():
            row = s.get(ExchangeReferenceClose, (str(asset_id), day.isoformat()))
            if row is not None:
                if given is not None and int(given) != row.close_fen:
                    raise ReferencePriceConflict(f"asset {asset_id}: the reference close for {day} is {row.close_fen} fen, not {given}")
                return int(row.close_fen)
            if given is None:
                raise NoReferencePrice(f"asset {asset_id} has no settled listed trades before {day}: give reference_close_fen")
            if given <= 0:
                raise ReferencePriceConflict(f"asset {asset_id}: reference close must be positive fen, got {given}")
            s.add(ExchangeReferenceClose(asset_id=str(asset_id), trade_day=day.isoformat(), close_fen=int(given)))
            return int(given)

    # ------------------------------------------------------------------ submission
    def submit(self, sender: str, batch_key: str, trades: Sequence[MatchedTrade], atomic: bool,
               reference_close_fen: Mapping[int, int] | None = None) -> list[dict[str, Any]]:
        """Check, settle and record a batch; returns one outcome per trade in input order:
        ``{"trade_id", "status": settled|skipped|duplicate|refused, "reason", "violations", "tx_hash"}``.

        Exchange-rule violations: in atomic mode nothing is sent and every trade is answered
        ``refused`` (the whole batch fails); otherwise violating trades are refused and the rest
        sent. Trade ids already settled are answered ``duplicate`` without being re-sent
        (the contract would skip them too). The contract's own refusals come back as ``skipped``
        (skip mode) or as :class:`ledger.chain.client.ContractRevert` (atomic mode, nothing recorded).

        Raises:
            DuplicateTradeIds, NoReferencePrice, ContractRevert.
        """
        ids = [t.key for t in trades]
        if len(set(ids)) != len(ids):
            raise DuplicateTradeIds("a trade id appears more than once in the batch")
        day = trading_day(self.clock())
        refs = dict(reference_close_fen or {})
        with Session(self.store) as s:
            known = {r.trade_id: r for r in s.scalars(select(ExchangeTrade).where(ExchangeTrade.trade_id.in_(ids)))}
        outcome: dict[str, dict[str, Any]] = {}
        states: dict[int, DayState] = {}
        to_send: list[tuple[MatchedTrade, str]] = []
        for t, tid in zip(trades, ids):
            prev = known.get(tid)
            if prev is not None and prev.status in ("settled", "duplicate"):
                outcome[tid] = {"trade_id": tid, "status": "duplicate", "reason": "trade id already settled",
                                "violations": [], "tx_hash": prev.tx_hash}
                continue
            if t.asset_id not in states:
                states[t.asset_id] = self.day_state(t.asset_id, day, refs.get(t.asset_id))
            st = states[t.asset_id]
            mode = TradeMode(t.mode) if t.mode else self.rules.mode_for(t.quantity)
            rt = Trade(tid, day, t.seller.lower(), t.buyer.lower(), t.quantity, t.price_fen, mode, t.asset_id)
            violations = st.check(rt)
            if violations:
                outcome[tid] = {"trade_id": tid, "status": "refused", "reason": "; ".join(v.message for v in violations),
                                "violations": [{"code": v.code, "message": v.message} for v in violations], "tx_hash": None}
                continue
            st.record(rt)
            to_send.append((t, mode.value))
        if atomic and any(o["status"] == "refused" for o in outcome.values()):
            for _t, tid in [(t, t.key) for t, _m in to_send]:
                outcome[tid] = {"trade_id": tid, "status": "refused", "reason": "batch refused: another trade breaks the exchange rules",
                                "violations": [], "tx_hash": None}
            to_send = []
        if to_send:
            result = self._settle(sender, [t for t, _m in to_send], atomic)
            events = self._events(result)
            for t, _m in to_send:
                tid = t.key
                ev = events.get(tid, ("skipped", "no settlement event for this trade"))
                outcome[tid] = {"trade_id": tid, "status": ev[0], "reason": ev[1], "violations": [], "tx_hash": result.tx_hash}
        self._record(batch_key, day, trades, outcome, {t.key: m for t, m in to_send})
        return [outcome[tid] for tid in ids]

    def _settle(self, sender: str, trades: list[MatchedTrade], atomic: bool) -> TxResult:
        fn = self.dep.c["Settlement"].functions.settle([t.as_tuple() for t in trades], atomic)
        gas = 150_000 + 250_000 * len(trades)
        return self.dep.client.send([Call.of(fn, sender, f"settle {len(trades)} trades", gas=gas)])[0]

    def _events(self, result: TxResult) -> dict[str, tuple[str, str]]:
        st = self.dep.settlement
        out: dict[str, tuple[str, str]] = {}
        for e in st.decode_events(result, TradeSettled):
            out["0x" + e.tradeId.hex()] = ("settled", "")
        for k in st.decode_events(result, TradeSkipped):
            out["0x" + k.tradeId.hex()] = ("skipped", skip_reason(k.reasonCode))
        for a in st.decode_events(result, TradeAlreadySettled):
            out["0x" + a.tradeId.hex()] = ("duplicate", "trade id already settled on-chain")
        return out

    def _record(self, batch_key: str, day: date, trades: Sequence[MatchedTrade], outcome: dict[str, dict[str, Any]],
                modes: dict[str, str]) -> None:
        now = int(self.clock())
        with Session(self.store) as s, s.begin():
            existing = {r.trade_id: r for r in s.scalars(select(ExchangeTrade).where(
                ExchangeTrade.trade_id.in_([t.key for t in trades])))}
            for t in trades:
                tid = t.key
                o = outcome[tid]
                if o["status"] == "duplicate":
                    continue
                row = existing.get(tid) or ExchangeTrade(trade_id=tid)
                row.batch_key, row.trade_day = batch_key, day.isoformat()
                row.mode = modes.get(tid) or (t.mode or self.rules.mode_for(t.quantity).value)
                row.seller, row.buyer = to_checksum_address(t.seller), to_checksum_address(t.buyer)
                row.asset_id, row.quantity, row.price_fen = str(t.asset_id), t.quantity, t.price_fen
                row.buyer_fee_fen, row.seller_fee_fen = t.buyer_fee_fen, t.seller_fee_fen
                row.status, row.reason, row.tx_hash, row.submitted_at = o["status"], o["reason"], o["tx_hash"], now
                s.add(row)

    # ------------------------------------------------------------------ queries
    def status(self, trade_id: str) -> dict[str, Any] | None:
        """Stored outcome of a trade, with the chain's settlement record; None if unknown here."""
        with Session(self.store) as s:
            r = s.scalar(select(ExchangeTrade).where(ExchangeTrade.trade_id == trade_id.lower()))
        if r is None:
            return None
        return {"trade_id": r.trade_id, "status": r.status, "reason": r.reason, "trade_day": r.trade_day, "mode": r.mode,
                "seller": r.seller, "buyer": r.buyer, "asset_id": r.asset_id, "quantity": r.quantity, "price_fen": r.price_fen,
                "value_fen": r.quantity * r.price_fen, "buyer_fee_fen": r.buyer_fee_fen, "seller_fee_fen": r.seller_fee_fen,
                "tx_hash": r.tx_hash, "submitted_at": r.submitted_at}


#: Reason codes of ``Settlement.TradeSkipped`` / ``TradeFailed`` (contracts/Settlement.sol).
SKIP_REASONS: dict[int, str] = {
    1: "asset transfers are paused", 2: "seller not admitted", 3: "buyer not admitted", 4: "seller frozen",
    5: "buyer frozen", 6: "seller lacks the asset", 7: "malformed asset id",
    9: "zero quantity", 10: "zero price", 11: "seller and buyer are the same account", 12: "amount overflow",
    13: "fee account unavailable", 14: "buyer lacks cash", 15: "seller fee exceeds the proceeds",
    16: "orders do not match (side or asset)", 17: "order not signed by its account", 18: "order expired",
    19: "order cancelled by its signer", 20: "fill exceeds the order's remaining quantity",
    21: "price outside the orders' limits", 22: "fee above the order's cap",
}
"""The texts of ``TransferRestrictions.messageForTransferRestriction`` (ERC-1404), as the contract
answers them (tests compare)."""


def skip_reason(code: int) -> str:
    """Readable name of a Settlement reason code."""
    return SKIP_REASONS.get(code, f"reason code {code}")
