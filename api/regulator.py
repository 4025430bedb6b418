"""Regulator: list every record, assign verifiers, confirm verified records; completeness (issue 12):
factor set and sources of an enterprise-year, gap substitutes, assessed emissions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal, require_role
from api.deps import AppContext, context, require_custodial
from api.pagination import PageParams, page
from api.records_common import record_step
from api.schemas import AssessEmissionsIn, AssignVerifierIn, CompletenessIn, GapAssessIn
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


@router.post("/completeness", summary="Assign the factor set and enrol the sources of an enterprise-year")
async def post_completeness(body: CompletenessIn, p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """EmissionsRegistry.assignFactorSet / enrolSources: the year is closable only when every month of
    every enrolled source is confirmed (or assessed); records must use the assigned factor set."""
    sender = require_custodial(ctx, p.account)
    ent = bytes.fromhex(body.enterprise[2:])
    if body.factor_set_id is not None:
        await run_in_threadpool(workflow.assign_factor_set, ctx.deployment, sender, ent, body.year, body.factor_set_id)
    if body.sources:
        await run_in_threadpool(workflow.enrol_sources, ctx.deployment, sender, ent, body.year,
                                [(s.activity_type, bytes.fromhex(s.subject[2:])) for s in body.sources])
    return await run_in_threadpool(records.annual_emissions, ctx.deployment, ent, body.year)


@router.get("/completeness/{enterprise}/{year}", summary="Completeness of an enterprise-year")
async def get_completeness(enterprise: str = Path(pattern=r"^0x[0-9a-fA-F]{64}$"), year: int = Path(ge=1971, le=9999),
                           p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """EmissionsRegistry.annualEmissions with the enrolled sources and their confirmed months."""
    return await run_in_threadpool(records.annual_emissions, ctx.deployment, bytes.fromhex(enterprise[2:]), year)


@router.post("/gaps/assess", summary="Assess the substitute Wh of a declared gap (核定)")
async def post_gap_assess(body: GapAssessIn, p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """EmissionsRegistry.assessGap: china_rules.md names no missing-data substitute for purchased
    electricity, so the regulator's assessed value applies; the verifier attests it with the record."""
    sender = require_custodial(ctx, p.account)
    dev = bytes.fromhex(body.device[2:])
    await run_in_threadpool(workflow.assess_gap, ctx.deployment, sender, dev, body.year, body.month, body.substitute_wh,
                            bytes.fromhex(body.basis_hash[2:]))
    return await run_in_threadpool(records.month_gap, ctx.deployment, dev, body.year, body.month)


@router.post("/assessments", summary="Assess (核定) an enterprise-year's emissions")
async def post_assessment(body: AssessEmissionsIn, p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """EmissionsRegistry.assessEmissions: the year becomes closable on this value (a non-reporter);
    never below the confirmed emissions; once per enterprise-year."""
    sender = require_custodial(ctx, p.account)
    ent = bytes.fromhex(body.enterprise[2:])
    await run_in_threadpool(workflow.assess_emissions, ctx.deployment, sender, ent, body.year, body.emissions_kg,
                            body.purchased_electricity_kg, bytes.fromhex(body.reason_hash[2:]))
    return await run_in_threadpool(records.annual_emissions, ctx.deployment, ent, body.year)
