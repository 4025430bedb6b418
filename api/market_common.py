"""Helpers shared by the asset and market routers: sending one contract call for the caller's
custodial account, and reading an account's positions."""

from __future__ import annotations

from typing import Any

from eth_utils import is_address, to_checksum_address
from fastapi.concurrency import run_in_threadpool

from api.deps import AppContext, require_custodial
from api.problems import Problem
from ledger.accounting.assets import parse_asset_id
from ledger.chain.client import Call, TxResult
from ledger.records.indexer import events


async def send(ctx: AppContext, account: str, fn: Any, label: str) -> TxResult:
    """Send ``fn`` from the caller's custodial ``account`` (pre-flight first: a refusal answers
    ``contract-refused`` before gas is spent)."""
    sender = require_custodial(ctx, account)
    return (await run_in_threadpool(ctx.deployment.client.send, [Call.of(fn, sender, label)]))[0]


def event_args(ctx: AppContext, contract: str, event: str, result: TxResult) -> list[Any]:
    """Decoded ``event`` logs of ``contract`` in a transaction's receipt (the binding's event dataclasses)."""
    return ctx.deployment.c[contract].decode_events(result, event)


def checked_address(value: str, field: str) -> str:
    """EIP-55 form of ``value`` or a ``validation-error`` problem naming ``field``."""
    if not isinstance(value, str) or not is_address(value):
        raise Problem("validation-error", f"{field}: {value!r} is not an address", errors=[{"field": field, "message": "not an address"}])
    return to_checksum_address(value)


def positions(ctx: AppContext, account: str) -> dict[str, Any]:
    """Non-zero holdings per asset id of ``account`` (ids found in its indexed CarbonAssets events),
    its cash deposit balance in fen and whether it is frozen."""
    dep = ctx.deployment
    engine = ctx.index()
    ids: set[int] = set()
    after = None
    while True:
        rows = events(engine, contract="CarbonAssets", after_id=after, limit=1000,
                      any_of=[("to", account), ("holder", account), ("from", account)])
        for r in rows:
            for k in ("id", "ids"):
                v = r.args.get(k)
                for x in (v if isinstance(v, list) else [v] if v is not None else []):
                    ids.add(int(x))
        if len(rows) < 1000:
            break
        after = rows[-1].id
    order = sorted(ids)
    bals = dep.assets.balanceOfBatch([account] * len(order), order) if order else ()
    return {"account": account, "frozen": dep.assets.isFrozen(account), "cash_fen": dep.cash.balanceOf(account),
            "positions": [{"asset": str(parse_asset_id(i)), "asset_id": str(i), "quantity_t": int(b)}
                          for i, b in zip(order, bals) if int(b) > 0]}
