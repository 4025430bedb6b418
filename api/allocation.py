"""Regulator's market actions: benchmark sets, enrolment, pre- and final allocation, compliance
periods (price, close), freezing accounts; and the audit's compliance status table."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal, require_role
from api.deps import AppContext, context
from api.market_common import checked_address, event_args, send
from api.pagination import PageParams, encode_cursor
from api.problems import Problem
from api.schemas import (
    BenchmarkSetIn,
    CloseIn,
    EnrolmentIn,
    FinalAllocationIn,
    FreezeIn,
    PeriodIn,
    PreAllocationIn,
    PriceIn,
)
from ledger.accounting import compliance as rules

router = APIRouter(prefix="/v1/regulator", tags=["regulator"])
audit = APIRouter(prefix="/v1/audit", tags=["audit"])
regulator = require_role("REGULATOR_ROLE")


def _b32(hex_: str) -> bytes:
    return bytes.fromhex(hex_[2:])


@router.post("/benchmark-sets", status_code=201, summary="Publish a benchmark set (immutable)")
async def post_benchmark_set(body: BenchmarkSetIn, p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """The 2019–2020 power-sector benchmarks (国环规气候〔2020〕3号 per ICAP; PARTIAL: draft values,
    final inferred unchanged; correction factors UNCONFIRMED → 1.0), with the citation stored."""
    preset = rules.BENCHMARKS_2019_2020
    fn = ctx.deployment.allocation.functions.publishBenchmarkSet(preset.from_year, preset.to_year, preset.pre_allocation_bps,
                                                                 [b.as_input() for b in preset.benchmarks], preset.citation)
    r = await send(ctx, p.account, fn, "publishBenchmarkSet")
    [ev] = await run_in_threadpool(event_args, ctx, "Allocation", "BenchmarkSetPublished", r)
    return {"set_id": ev.setId, "citation": preset.citation, "status": preset.status, "tx_hash": r.tx_hash}


@router.post("/enrolments", status_code=201, summary="Enrol an enterprise: unit category and holding account")
async def post_enrolment(body: EnrolmentIn, p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    fn = ctx.deployment.allocation.functions.enrol(_b32(body.enterprise), rules.category_id(body.category),
                                                   checked_address(body.holding_account, "body.holding_account"))
    r = await send(ctx, p.account, fn, "enrol")
    return {"enterprise": body.enterprise, "category": body.category, "tx_hash": r.tx_hash}


@router.post("/pre-allocations", status_code=201, summary="Issue an enterprise's pre-allocation for a year")
async def post_pre_allocation(body: PreAllocationIn, p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Pre-allocation = the set's fraction × basis output × benchmark, whole tonnes (Allocation)."""
    fn = ctx.deployment.allocation.functions.preAllocate(body.year, body.set_id, _b32(body.enterprise), body.basis_wh,
                                                         body.basis_heat_mj, _b32(body.evidence_hash))
    r = await send(ctx, p.account, fn, f"preAllocate {body.year}")
    return {"year": body.year, "enterprise": body.enterprise, "entry": _entry(ctx, body.year, body.enterprise), "tx_hash": r.tx_hash}


@router.post("/final-allocations", status_code=201, summary="Final allocation from confirmed activity data")
async def post_final_allocation(body: FinalAllocationIn, p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Computed on-chain from the year's confirmed electricity and heat supplied; the difference
    to the pre-allocation is issued or clawed back (beyond holdings: a recorded debt)."""
    fn = ctx.deployment.allocation.functions.finalAllocateBatch(body.year, [_b32(e) for e in body.enterprises])
    r = await send(ctx, p.account, fn, f"finalAllocate {body.year} × {len(body.enterprises)}")
    return {"year": body.year, "entries": [{"enterprise": e, **_entry(ctx, body.year, e)} for e in body.enterprises], "tx_hash": r.tx_hash}


def _entry(ctx: AppContext, year: int, enterprise: str) -> dict[str, Any]:
    dep = ctx.deployment
    return dep.allocation.entry(year, _b32(enterprise)).as_json()


@router.post("/compliance-periods", status_code=201, summary="Open a compliance period (parameters with citations)")
async def post_period(body: PeriodIn, p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """From the year's preset (ledger.accounting.compliance.PERIOD_PRESETS: 20 % gap cap, gas rule, 5 % CCER cap,
    deadline, eligible vintages — each with its citation; UNCONFIRMED items listed)."""
    preset = rules.PERIOD_PRESETS[body.year]
    params = dict(preset.params, **({"deadline": body.deadline} if body.deadline is not None else {}))
    fn = ctx.deployment.compliance.functions.openPeriod(body.year, tuple(params[k] for k in rules.PERIOD_FIELDS), preset.citations_tuple())
    r = await send(ctx, p.account, fn, f"openPeriod {body.year}")
    return {"year": body.year, "params": params, "citations": preset.citations, "unconfirmed": list(preset.unconfirmed), "tx_hash": r.tx_hash}


@router.post("/compliance-periods/{year}/price", summary="Publish P, the average price of the month before the deadline")
async def post_price(body: PriceIn, year: int = Path(ge=2013, le=2100), p: Principal = Depends(regulator),
                     ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Penalty range of a shortfall S: 5 × S × P … 10 × S × P fen (碳排放权交易管理暂行条例 Art. 24)."""
    r = await send(ctx, p.account, ctx.deployment.compliance.functions.publishPrice(year, body.price_fen, body.citation), f"publishPrice {year}")
    return {"year": year, "price_fen": body.price_fen, "tx_hash": r.tx_hash}


@router.post("/compliance-periods/{year}/close", summary="Close enterprises' periods after the deadline")
async def post_close(body: CloseIn, year: int = Path(ge=2013, le=2100), p: Principal = Depends(regulator),
                     ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Status compliant or shortfall; a shortfall records its penalty range and a pending 1:1
    deduction from next year's allocation."""
    r = await send(ctx, p.account, ctx.deployment.compliance.functions.closeBatch(year, [_b32(e) for e in body.enterprises]), f"close {year}")
    return {"year": year, "rows": _status_rows(ctx, year, body.enterprises), "tx_hash": r.tx_hash}


@router.post("/freezes", summary="Freeze (冻结) or unfreeze an account's holdings")
async def post_freeze(body: FreezeIn, p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    a = ctx.deployment.assets.functions
    acct = checked_address(body.account, "body.account")
    fn = a.freeze(acct, body.reason) if body.frozen else a.unfreeze(acct, body.reason)
    r = await send(ctx, p.account, fn, "freeze" if body.frozen else "unfreeze")
    return {"account": acct, "frozen": body.frozen, "reason": body.reason, "tx_hash": r.tx_hash}


STATUS_NAMES = ("open", "compliant", "shortfall", "corrected_late")
DEDUCTION_NAMES = ("none", "pending", "effective", "cancelled")


def _status_rows(ctx: AppContext, year: int, enterprises: list[str]) -> list[dict[str, Any]]:
    dep = ctx.deployment
    rows = dep.compliance.statusTable(year, [_b32(e) for e in enterprises]) if enterprises else ()
    out = []
    for row in rows:
        d = row.as_json()
        d["status"] = STATUS_NAMES[d["status"]] if d["status"] < len(STATUS_NAMES) else d["status"]
        d["deduction"] = DEDUCTION_NAMES[d["deduction"]] if d["deduction"] < len(DEDUCTION_NAMES) else d["deduction"]
        out.append(d)
    return out


def _enterprises(ctx: AppContext, after: int, limit: int) -> tuple[list[tuple[int, str]], bool]:
    dep = ctx.deployment
    pr = dep.participants
    role = dep.role("ENTERPRISE_ROLE")
    n = pr.organisationCount()
    out: list[tuple[int, str]] = []
    i = after
    while i < n and len(out) <= limit:
        org = pr.organisationAt(i)
        if pr.organisation(org).role == role:
            out.append((i + 1, "0x" + org.hex()))
        i += 1
    return out[:limit], len(out) > limit


@audit.get("/compliance/{year}", summary="Compliance status table of a year (every enterprise)")
async def compliance_table(year: int = Path(ge=2013, le=2100), params: PageParams = Depends(), ctx: AppContext = Depends(context),
                           p: Principal = Depends(require_role("REGULATOR_ROLE", "VERIFIER_ROLE", "EXCHANGE_ROLE"))) -> dict[str, Any]:
    """Per enterprise: E (t), A (t), obligation, CEA and CCER surrendered, CCER cap, status,
    shortfall, penalty range (fen), deduction. Paginated over the enterprises in admission order."""
    opened = (await run_in_threadpool(ctx.deployment.compliance.period, year)).opened
    if not opened:
        raise Problem("not-found", f"no compliance period {year} has been opened")
    orgs, more = await run_in_threadpool(_enterprises, ctx, params.after, min(params.limit, 200))
    rows = await run_in_threadpool(_status_rows, ctx, year, [o for _i, o in orgs])
    if not orgs and params.after == 0:
        raise Problem("not-found", "no enterprises are admitted")
    return {"items": rows, "next_cursor": encode_cursor(orgs[-1][0]) if orgs and more else None}
