"""Audit history of carbon assets and accounts, read from the event indexer (every state change of
the asset, allocation, compliance, registry and settlement contracts is an event, DESIGN.md §4)."""

from __future__ import annotations

from typing import Any

from eth_utils import is_address, to_checksum_address
from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal, require_role
from api.deps import AppContext, context
from api.pagination import PageParams, encode_cursor
from api.problems import Problem
from ledger.accounting.assets import MalformedAssetId, parse_asset_id, parse_asset_name
from ledger.records.indexer import MAX_PAGE, events

router = APIRouter(prefix="/v1/audit", tags=["audit"])

#: Contracts whose events make up an asset's or an account's history.
ASSET_CONTRACTS = ("CarbonAssets", "CCERRegistry", "Allocation", "Compliance", "Settlement", "CashToken")
#: Event arguments that name an asset id.
ASSET_ARGS = ("id", "assetId")
#: Event arguments that name an account.
ACCOUNT_ARGS = ("from", "to", "holder", "account", "seller", "buyer", "owner", "recipient")


def asset_token_id(asset: str) -> int:
    """Token id of ``asset``: ``CEA-2021``, ``CCER-<project>-<vintage>`` or the decimal / 0x id.
    Raises a ``validation-error`` problem naming the path field."""
    try:
        if asset.isdigit() or asset[:2].lower() == "0x":
            tid = int(asset, 0)
            parse_asset_id(tid)
            return tid
        return parse_asset_name(asset)
    except (MalformedAssetId, ValueError) as exc:
        raise Problem("validation-error", f"asset {asset!r}: {exc}",
                      errors=[{"field": "path.asset", "message": str(exc)}]) from None


def _page(ctx: AppContext, params: PageParams, any_of: list[tuple[str, Any]]) -> dict[str, Any]:
    engine = ctx.index()
    n = min(params.limit, MAX_PAGE - 1)
    rows = events(engine, after_id=params.after or None, limit=n + 1, any_of=any_of, contracts=ASSET_CONTRACTS)
    more = len(rows) > n
    rows = rows[:n]
    return {"items": [{"event_id": r.id, "block": r.block_number, "tx_hash": r.tx_hash, "log_index": r.log_index,
                       "contract": r.contract, "event": r.event, "args": r.args} for r in rows],
            "next_cursor": encode_cursor(rows[-1].id) if rows and more else None}


@router.get("/assets/{asset}/history", summary="Every event of one asset id (issuance, transfers, settlement, surrender, retirement)")
async def asset_history(asset: str = Path(description="CEA-<year>, CCER-<project>-<vintage>, or the token id"),
                        params: PageParams = Depends(), ctx: AppContext = Depends(context),
                        p: Principal = Depends(require_role("REGULATOR_ROLE", "REGISTRY_ROLE", "EXCHANGE_ROLE"))) -> dict[str, Any]:
    """Indexed events naming the token id (``id`` or ``assetId`` argument), oldest first, cursor
    paginated (at most 999 per page). ERC-1155 ``TransferBatch`` events carry id arrays and are
    found through the account history instead."""
    tid = asset_token_id(asset)
    return await run_in_threadpool(_page, ctx, params, [(a, tid) for a in ASSET_ARGS])


@router.get("/accounts/{account}/history", summary="Every asset and cash event of one account")
async def account_history(account: str = Path(description="0x account address"), params: PageParams = Depends(),
                          ctx: AppContext = Depends(context),
                          p: Principal = Depends(require_role("REGULATOR_ROLE", "ENTERPRISE_ROLE", "REGISTRY_ROLE", "EXCHANGE_ROLE",
                                                              "PROJECT_OWNER_ROLE", "SETTLEMENT_BANK_ROLE"))) -> dict[str, Any]:
    """Indexed events where the account is sender, receiver, holder, seller, buyer or owner, oldest
    first. Scope: the regulator sees any account; others only their own organisation's accounts
    (anything else answers ``not-found``, no existence leak)."""
    if not is_address(account):
        raise Problem("validation-error", f"{account!r} is not an address", errors=[{"field": "path.account", "message": "not an address"}])
    acct = to_checksum_address(account)
    if p.role != "REGULATOR_ROLE":
        dep = ctx.deployment
        org = bytes(await run_in_threadpool(dep.client.call, dep.participants.functions.orgOf(acct)))
        if "0x" + org.hex() != p.org_id.lower():
            raise Problem("not-found", f"no account {acct} visible to {p.account}")
    return await run_in_threadpool(_page, ctx, params, [(a, acct) for a in ACCOUNT_ARGS])
