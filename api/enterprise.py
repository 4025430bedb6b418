"""Enterprise submission portal: record and submit months, list own records."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal, require_role
from api.deps import AppContext, context, require_custodial
from api.pagination import PageParams, page
from api.problems import Problem
from api.records_common import record_step, scoped_record
from api.schemas import GapIn, RecordMonthIn
from ledger.accounting.emissions import day_mask
from ledger.records import queries as records
from ledger.records import workflow

router = APIRouter(prefix="/v1/enterprise", tags=["enterprise"])
enterprise = require_role("ENTERPRISE_ROLE")


@router.post("/records", status_code=201, summary="Record (and submit) a month from anchored meter data")
async def post_record(body: RecordMonthIn, p: Principal = Depends(enterprise), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Sums the device's anchored batches of the enterprise's local month (Wh) and computes the
    emissions on-chain (kgCO2 = ⌊Wh × EF / 10^7 + ½⌋) with the factor set's grid EF; submits it
    unless ``submit`` is false. Refused before any gas is spent if the contract would refuse."""
    sender = require_custodial(ctx, p.account)
    try:
        rid = await run_in_threadpool(workflow.record_month, ctx.deployment, sender, bytes.fromhex(p.org_id[2:]),
                                      bytes.fromhex(body.device[2:]), body.year, body.month, body.factor_set_id,
                                      bytes.fromhex(body.evidence_hash[2:]), body.amends, body.submit)
    except records.NoAnchoredData as exc:
        raise Problem("no-anchored-data", str(exc)) from None
    return await run_in_threadpool(records.record, ctx.deployment, rid)


@router.post("/gaps", status_code=201, summary="Declare the days of a meter's month without complete data")
async def post_gap(body: GapIn, p: Principal = Depends(enterprise), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """EmissionsRegistry.declareGap (issue 12): a month whose days are not all covered by anchored
    batches is recorded only with its gap declared and the regulator's substitute assessed; the
    record's Wh = metered + substitute. Declaring again replaces the gap (and clears the substitute)."""
    sender = require_custodial(ctx, p.account)
    dev = bytes.fromhex(body.device[2:])
    await run_in_threadpool(workflow.declare_gap, ctx.deployment, sender, dev, body.year, body.month,
                            day_mask(body.days), bytes.fromhex(body.reason_hash[2:]))
    return await run_in_threadpool(records.month_gap, ctx.deployment, dev, body.year, body.month)


@router.post("/records/{record_id}/submit", summary="Submit a Draft record for verification")
async def post_submit(record_id: int = Path(ge=1), p: Principal = Depends(enterprise), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Draft → Submitted."""
    return await record_step(ctx, p, record_id, workflow.submit)


@router.get("/records", summary="The enterprise's own records (paginated)")
async def list_records(params: PageParams = Depends(), year: int | None = Query(None), month: int | None = Query(None, ge=1, le=12),
                       status: str | None = Query(None, pattern="^(draft|submitted|verified|rejected|confirmed)$"),
                       p: Principal = Depends(enterprise), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Records of the caller's organisation, by id; filters by period and status."""
    it = records.iter_records(ctx.deployment, params.after, enterprise=p.org_id, year=year, month=month, status=status)
    return await run_in_threadpool(page, it, params, lambda r: r["record_id"])


@router.get("/records/{record_id}", summary="One of the enterprise's records")
async def get_record(record_id: int = Path(ge=1), p: Principal = Depends(enterprise), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """The record's on-chain fields (Wh, EF ×1e4, kgCO2, status, verifier)."""
    return await run_in_threadpool(scoped_record, ctx.deployment, p, record_id)
