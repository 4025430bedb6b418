"""Exchange settlement integration: submit matched trade batches (delivery versus payment), query
each trade's settlement, positions and cash balances, and follow settlements as a server-sent-event
stream."""

from __future__ import annotations

import json
from typing import Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.auth import Principal, require_role
from api.deps import AppContext, context, require_custodial
from api.history import asset_token_id
from api.market_common import checked_address, positions
from api.problems import Problem
from api.schemas import OrderIn, TradeBatchIn
from api.settlement_service import (
    DuplicateTradeIds,
    MatchedTrade,
    NoReferencePrice,
    ReferencePriceConflict,
    SettlementService,
)
from api.sse import poll_events, sse_event
from ledger.accounting.settlement import BUY, SELL, Order, SignedOrder
from ledger.records.indexer import events

router = APIRouter(prefix="/v1/exchange", tags=["exchange settlement"])
exchange = require_role("EXCHANGE_ROLE")


def service(ctx: AppContext) -> SettlementService:
    """The process's settlement service (one per app)."""
    if getattr(ctx, "_settlement", None) is None:
        ctx._settlement = SettlementService(ctx.deployment, ctx.api_store)  # type: ignore[attr-defined]
    return ctx._settlement  # type: ignore[attr-defined]


def _signed(o: OrderIn, asset_id: int, side: int) -> SignedOrder:
    """The API form of a signed order as the contract's (addresses checked by the schema pattern)."""
    return SignedOrder(Order(to_checksum_address(o.account), asset_id, side, o.quantity, o.limit_price_fen, o.expiry, o.nonce,
                             o.max_fee_fen_per_tonne), bytes.fromhex(o.signature[2:]))


@router.post("/trade-batches", summary="Settle a batch of matched trades (delivery versus payment)")
async def post_trade_batch(body: TradeBatchIn, idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
                           p: Principal = Depends(exchange), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Each trade is a fill of the buyer's and the seller's signed orders (EIP-712 ``Order`` of the
    Settlement contract: the members' consent; the contract refuses a fill beyond an order's
    quantity or limits, an expired or cancelled order, or a signature not the account's; the
    trade id is derived from the orders, fill index, quantity and price). Checks every trade
    against the exchange rule set (price band against the previous close,
    block threshold, 1 t step, 0.01 CNY tick, no same-day resale — china_rules.md §5), then settles
    the accepted ones in one transaction: each trade moves the asset seller → buyer and the cash
    (quantity × price, fen) buyer → seller atomically. ``atomic``: any failure fails the whole batch
    (problem ``exchange-rule-violation`` or ``contract-refused``); otherwise failing trades are
    reported and skipped. A trade id settles at most once: resubmitting is answered ``duplicate``.
    Send an ``Idempotency-Key``: a retried request returns the stored answer."""
    if not idempotency_key:
        raise Problem("validation-error", "trade batches need an Idempotency-Key header",
                      errors=[{"field": "header.Idempotency-Key", "message": "required"}])
    sender = require_custodial(ctx, p.account)
    svc = service(ctx)
    trades = [MatchedTrade.of(svc.domain, _signed(t.buy, asset_token_id(t.asset), BUY), _signed(t.sell, asset_token_id(t.asset), SELL),
                              t.quantity, t.price_fen, t.fill_index, t.buyer_fee_fen, t.seller_fee_fen, t.mode)
              for t in body.trades]
    refs = {asset_token_id(k): v for k, v in (body.reference_close_fen or {}).items()}
    try:
        out = await run_in_threadpool(svc.submit, sender, f"{p.scope}:{idempotency_key}", trades, body.atomic, refs)
    except NoReferencePrice as exc:
        raise Problem("no-reference-price", str(exc)) from None
    except ReferencePriceConflict as exc:
        raise Problem("validation-error", str(exc), errors=[{"field": "body.reference_close_fen", "message": str(exc)}]) from None
    except DuplicateTradeIds as exc:
        raise Problem("validation-error", str(exc), errors=[{"field": "body.trades", "message": str(exc)}]) from None
    if body.atomic and any(o["status"] == "refused" for o in out):
        raise Problem("exchange-rule-violation", "the batch breaks the exchange rules; nothing was settled", trades=out)
    counts = {s: sum(o["status"] == s for o in out) for s in ("settled", "skipped", "duplicate", "refused")}
    return {"trades": out, **counts}


@router.get("/trades/{trade_id}", summary="Settlement status of one trade")
async def get_trade(trade_id: str = Path(pattern=r"^0x[0-9a-fA-F]{64}$"), p: Principal = Depends(exchange),
                    ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """The stored outcome (settled / skipped with reason / refused with the broken rules), the
    transaction hash, and whether the Settlement contract records the id as settled."""
    st = await run_in_threadpool(service(ctx).status, trade_id)
    settled = int(await run_in_threadpool(ctx.deployment.client.call,
                                          ctx.deployment.c["Settlement"].functions.settledAt(bytes.fromhex(trade_id[2:])))) != 0
    if st is None and not settled:
        raise Problem("not-found", f"no trade {trade_id}")
    return {**(st or {"trade_id": trade_id.lower(), "status": "settled", "reason": "settled outside this service"}),
            "settled_on_chain": settled}


@router.get("/positions", summary="Asset positions (tCO2e per asset id) and cash balance (fen) of an account")
async def get_positions(account: str = Query(description="0x account"), p: Principal = Depends(exchange),
                        ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Non-zero holdings per asset id (CEA-<year>, CCER-<project>-<vintage>), the cash deposit
    token balance in fen, and whether the regulator froze the account."""
    return await run_in_threadpool(positions, ctx, checked_address(account, "query.account"))


@router.get("/settlements/stream", summary="Server-sent events: every settled or skipped trade")
async def stream(request: Request, after: int | None = Query(None, ge=0, description="event id to resume after"),
                 last_event_id: str | None = Header(None, alias="Last-Event-ID"),
                 once: bool = Query(False, description="send what is there and close (for polling clients)"),
                 p: Principal = Depends(exchange), ctx: AppContext = Depends(context)) -> StreamingResponse:
    """``text/event-stream``; each event: ``id`` = indexer event id (resume with ``Last-Event-ID``
    or ``?after=``), ``event`` = ``TradeSettled`` / ``TradeSkipped`` / ``TradeAlreadySettled``,
    ``data`` = JSON with the trade id, parties, asset id, quantity, price and the transaction hash.
    The stream stays open only for a client that asks for one (``Accept: text/event-stream``, as
    every EventSource does); any other request gets the events there are and the response ends
    (as with ``once``), so a generic HTTP client never hangs on it."""
    once = once or "text/event-stream" not in request.headers.get("accept", "").lower()
    cursor = after if after is not None else int(last_event_id) if (last_event_id or "").isdigit() else 0

    async def poll() -> tuple[list[bytes], bool]:
        nonlocal cursor
        rows = await run_in_threadpool(lambda: events(ctx.index(), contract="Settlement", after_id=cursor or None, limit=500))
        if rows:
            cursor = rows[-1].id
        return [sse_event(r.id, r.event, json.dumps({**r.args, "tx_hash": r.tx_hash, "block": r.block_number}))
                for r in rows if r.event in ("TradeSettled", "TradeSkipped", "TradeAlreadySettled")], bool(rows)

    return StreamingResponse(poll_events(request, poll, once), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
