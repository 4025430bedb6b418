"""Regulator: list every record, assign verifiers, confirm verified records."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal, require_role
from api.deps import AppContext, context
from api.pagination import PageParams, page
from api.records_common import record_step
from api.schemas import AssignVerifierIn
from ledger.records import queries as records
from ledger.records import workflow

router = APIRouter(prefix="/v1/regulator", tags=["regulator"])
regulator = require_role("REGULATOR_ROLE")


@router.get("/records", summary="Every record (paginated; filters by enterprise, period, status)")
async def list_records(params: PageParams = Depends(), enterprise: str | None = Query(None, pattern=r"^0x[0-9a-fA-F]{64}$"),
                       year: int | None = Query(None), month: int | None = Query(None, ge=1, le=12),
                       status: str | None = Query(None, pattern="^(draft|submitted|verified|rejected|confirmed)$"),
                       p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """All records by id."""
    it = records.iter_records(ctx.deployment, params.after, enterprise=enterprise, year=year, month=month, status=status)
    return await run_in_threadpool(page, it, params, lambda r: r["record_id"])


@router.post("/records/{record_id}/verifier", summary="Assign a verifier to a submitted record")
async def post_assign(body: AssignVerifierIn, record_id: int = Path(ge=1), p: Principal = Depends(regulator),
                      ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Emits ``VerifierAssigned``; the verifier must be an active VERIFIER_ROLE participant."""
    return await record_step(ctx, p, record_id, workflow.assign_verifier, body.verifier)


@router.post("/records/{record_id}/confirm", summary="Confirm a verified record")
async def post_confirm(record_id: int = Path(ge=1), p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Verified → Confirmed."""
    return await record_step(ctx, p, record_id, workflow.confirm)
