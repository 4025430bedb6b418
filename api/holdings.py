"""Holders' asset actions (enterprise portal): balances, surrender (清缴) for compliance,
retirement (注销)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal, require_role
from api.deps import AppContext, context
from api.history import asset_token_id
from api.market_common import event_args, positions, send
from api.registry import retire_ccer
from api.schemas import RetirementIn, SurrenderIn
from ledger.accounting.assets import AssetClass, parse_asset_id

router = APIRouter(prefix="/v1/enterprise", tags=["enterprise"])
holder = require_role("ENTERPRISE_ROLE", "PROJECT_OWNER_ROLE")


@router.get("/balances", summary="Holdings per asset id and cash balance of the caller's account")
async def get_balances(p: Principal = Depends(holder), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Non-zero CEA/CCER holdings (tCO2e), cash deposit balance (fen) and the freeze flag."""
    return await run_in_threadpool(positions, ctx, p.account)


@router.post("/surrenders", status_code=201, summary="Surrender allowances or CCER for a compliance year")
async def post_surrender(body: SurrenderIn, p: Principal = Depends(require_role("ENTERPRISE_ROLE")),
                         ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Burns the units for the year's compliance period (Compliance.surrender): eligible vintages
    only, not beyond the obligation, CCER at most ⌊obligation × 5/100⌋ t (碳排放权交易管理办法（试行）
    Art. 29); after the deadline only as late correction of a recorded shortfall."""
    tid = asset_token_id(body.asset)
    r = await send(ctx, p.account, ctx.deployment.compliance.functions.surrender(body.year, tid, body.amount),
                   f"surrender {body.amount} t {body.asset} for {body.year}")
    row = await run_in_threadpool(ctx.deployment.compliance.status, body.year, bytes.fromhex(p.org_id[2:]))
    st = row.as_json()
    return {"year": body.year, "asset": str(parse_asset_id(tid)), "amount": body.amount, "tx_hash": r.tx_hash, "compliance": st}


@router.post("/retirements", status_code=201, summary="Retire (注销) CEA or CCER from the caller's holding")
async def post_retirement(body: RetirementIn, p: Principal = Depends(holder), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Final. CEA: CarbonAssets.retire with beneficiary, purpose and reason. CCER: through the
    registry with the issuance batch; the certificate names the exact serials retired."""
    tid = asset_token_id(body.asset)
    if parse_asset_id(tid).asset_class is AssetClass.CCER:
        return await retire_ccer(ctx, p.account, p.account, body)
    r = await send(ctx, p.account, ctx.deployment.assets.functions.retire(tid, body.amount, body.beneficiary, body.purpose, body.reason),
                   f"retire {body.amount} t {body.asset}")
    await run_in_threadpool(event_args, ctx, "CarbonAssets", "Retired", r)
    return {"asset": str(parse_asset_id(tid)), "amount": body.amount, "beneficiary": body.beneficiary,
            "purpose": body.purpose, "reason": body.reason, "tx_hash": r.tx_hash}
