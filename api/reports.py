"""Enterprise portal: declared monthly data (fuel combustion by the guideline's parameters,
purchased heat), the annual report assembled from confirmed records, and the compliance position;
the same annual report for the assigned verifier and the regulator.

Units (DESIGN.md §5/§6): fuel consumption t (or 10^4 Nm³) × 1000, NCV GJ/t × 1e6, carbon content
tC/GJ × 1e9, oxidation rate × 1e6 (0 = the factor set's default, flagged in the record and the
report), heat MJ; emissions integer kgCO2 computed on-chain; tonnes with 3 decimals in reports.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.allocation import DEDUCTION_NAMES, STATUS_NAMES
from api.auth import Principal, require_role
from api.deps import AppContext, context, require_custodial
from api.market_common import positions
from api.problems import Problem
from api.records_common import scoped_record
from ledger.records import annual_report as ar
from ledger.records import queries as records

router = APIRouter(tags=["reports"])
enterprise = require_role("ENTERPRISE_ROLE")
HEX32 = r"^0x[0-9a-fA-F]{64}$"
U64 = 2**64 - 1


class FuelRecordIn(BaseModel):
    """Fuel combustion of one fuel and month by E = FC × NCV × CC × OF × 44/12 (DESIGN.md §6;
    企业温室气体排放核算与报告指南 发电设施 / GB/T 32150 — formula text UNCONFIRMED, china_rules.md §1).
    NCV, carbon content and oxidation rate: measured values, or 0 to use the factor set's default
    (e.g. coal CC 0.03085 tC/GJ since June 2022, CONFIRMED-S), which the report then names."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "kind": "fuel_combustion", "fuel": "COAL", "year": 2007, "month": 1, "consumption": 1_234_567,
        "ncv": 20_908_000, "carbon_content": 0, "oxidation_rate": 0, "factor_set_id": 2,
        "evidence_hash": "0x" + "ab" * 32, "submit": True}]})

    kind: Literal["fuel_combustion"]
    fuel: str = Field(min_length=1, max_length=31, pattern=r"^[\x21-\x7e]+$", description="fuel code, e.g. COAL (bytes32 on-chain)")
    year: int = Field(ge=1971, le=9999)
    month: int = Field(ge=0, le=12, description="1..12, or 0 for a whole-year declaration")
    consumption: int = Field(ge=1, le=U64, description="FC, t (or 10^4 Nm³) × 1000")
    ncv: int = Field(0, ge=0, le=U64, description="NCV, GJ/t (or GJ/10^4 Nm³) × 1e6; 0 = factor-set default")
    carbon_content: int = Field(0, ge=0, le=U64, description="CC, tC/GJ × 1e9; 0 = factor-set default")
    oxidation_rate: int = Field(0, ge=0, le=1_000_000, description="OF, fraction × 1e6 (≤ 1e6); 0 = factor-set default")
    factor_set_id: int = Field(0, ge=0, le=U64, description="factor set for the year (needed when a default is used)")
    evidence_hash: str = Field(pattern=HEX32, description="SHA-256 of the evidence envelope (nonzero)")
    amends: int = Field(0, ge=0, le=U64, description="id of the Draft/Rejected record this one amends")
    submit: bool = Field(True, description="submit for verification right away")


class HeatRecordIn(BaseModel):
    """Purchased heat (购入热力) of one month: E_heat = AD (GJ) × EF_heat (tCO2/GJ) with EF_heat from
    the factor set (DESIGN.md §6)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "kind": "purchased_heat", "year": 2007, "month": 1, "heat_mj": 3_600_000, "factor_set_id": 2,
        "evidence_hash": "0x" + "cd" * 32, "submit": True}]})

    kind: Literal["purchased_heat"]
    supplier: str = Field("0x" + "00" * 32, pattern=HEX32, description="supplier / unit identifier (bytes32), or zero")
    year: int = Field(ge=1971, le=9999)
    month: int = Field(ge=0, le=12, description="1..12, or 0 for a whole-year declaration")
    heat_mj: int = Field(ge=1, le=U64, description="purchased heat, MJ (GJ × 1000)")
    factor_set_id: int = Field(ge=1, le=U64, description="factor set holding EF_heat (tCO2/GJ × 1e6)")
    evidence_hash: str = Field(pattern=HEX32, description="SHA-256 of the evidence envelope (nonzero)")
    amends: int = Field(0, ge=0, le=U64)
    submit: bool = Field(True)


DeclaredIn = Annotated[FuelRecordIn | HeatRecordIn, Field(discriminator="kind")]


def _hash(h: str, field: str) -> bytes:
    b = bytes.fromhex(h[2:])
    if b == bytes(32):
        raise Problem("validation-error", f"{field}: must not be zero", errors=[{"field": field, "message": "must not be zero"}])
    return b


def _record_out(ctx: AppContext, rid: int) -> dict[str, Any]:
    dep = ctx.deployment
    r = records.record(dep, rid)
    r["acquisition_method"] = ar.METHOD_NAMES[dep.emissions.acquisitionMethod(rid)]
    r["activity_type"] = ar.ACTIVITY_NAMES.get(int(r["activityType"]), str(r["activityType"]))
    if int(r["activityType"]) == ar.FUEL_COMBUSTION:
        fp = ar.fuel_parameters(dep, rid)
        r["fuel_parameters"] = fp
        r["defaults_used"] = [n for b, n in ((ar.DEFAULT_NCV, "ncv"), (ar.DEFAULT_CC, "carbon_content"),
                                             (ar.DEFAULT_OF, "oxidation_rate")) if fp["defaultsMask"] & b]
    return r


@router.post("/v1/enterprise/records/declared", status_code=201, tags=["enterprise"],
             summary="Declare fuel combustion (FC, NCV, CC, OF) or purchased heat with evidence")
async def post_declared(body: DeclaredIn = Body(), p: Principal = Depends(enterprise),
                        ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Records the declaration on-chain (EmissionsRegistry.recordFuelCombustion or
    recordDeclared(PurchasedHeat)); the contract computes the emissions (kgCO2, rounded half up
    once) and tags the record ``calculation``; submitted for verification unless ``submit`` is
    false. Refusals (e.g. ``FactorMissing``, ``RecordExists``, ``GranularityConflict``) answer
    ``contract-refused`` before any gas is spent."""
    sender = require_custodial(ctx, p.account)
    ev = _hash(body.evidence_hash, "body.evidence_hash")
    dep = ctx.deployment
    if isinstance(body, FuelRecordIn):
        d = ar.FuelDeclaration(ar.fuel_code(body.fuel), body.year, body.month, body.consumption, body.ncv,
                               body.carbon_content, body.oxidation_rate, body.factor_set_id, ev, body.amends)
        rid = await run_in_threadpool(ar.record_fuel, dep, sender, d, body.submit)
    else:
        rid = await run_in_threadpool(ar.record_purchased_heat, dep, sender, bytes.fromhex(body.supplier[2:]), body.year,
                                      body.month, body.heat_mj, body.factor_set_id, ev, body.amends, body.submit)
    return await run_in_threadpool(_record_out, ctx, rid)


@router.get("/v1/enterprise/records/{record_id}/details", tags=["enterprise"],
            summary="One own record with its acquisition method and fuel parameters")
async def get_record_details(record_id: int = Path(ge=1, le=U64), p: Principal = Depends(enterprise),
                             ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """The record's on-chain fields plus ``acquisition_method`` and, for fuel, the parameters
    used (defaults resolved, ``defaults_used`` naming those taken from the factor set)."""
    await run_in_threadpool(scoped_record, ctx.deployment, p, record_id)
    return await run_in_threadpool(_record_out, ctx, record_id)


@router.get("/v1/enterprise/reports/{year}", tags=["enterprise"], summary="The enterprise's annual report of a year")
async def get_own_report(year: int = Path(ge=1971, le=9999), p: Principal = Depends(enterprise),
                         ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Assembled from the year's CONFIRMED records only: one line per fuel, purchased electricity
    (per meter) and purchased heat, each tagged scope (1 direct / 2 indirect), gas (CO2) and
    acquisition method, with activity data, factors (set id and citation), kgCO2 and tCO2e (3
    decimals), totals checked against EmissionsRegistry.confirmedTotals, month coverage, and
    ``report_hash`` = SHA-256 of the canonical JSON (the hash a verifier attests)."""
    return await run_in_threadpool(ar.annual_report, ctx.deployment, p.org_id, year)


def _verifier_may_see(ctx: AppContext, verifier: str, enterprise: str, year: int) -> bool:
    return next(records.iter_records(ctx.deployment, enterprise=enterprise, verifier=verifier, year=year), None) is not None


@router.get("/v1/verifier/reports/{enterprise}/{year}", tags=["verifier"], summary="The annual report of an enterprise under review")
async def get_report_for_verifier(enterprise: str = Path(pattern=HEX32), year: int = Path(ge=1971, le=9999),
                                  p: Principal = Depends(require_role("VERIFIER_ROLE")),
                                  ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Only for a verifier assigned to at least one record of this enterprise and year; otherwise
    ``not-found`` (no existence leak)."""
    if not await run_in_threadpool(_verifier_may_see, ctx, p.account, enterprise.lower(), year):
        raise Problem("not-found", f"no annual report {year} of {enterprise} assigned to {p.account}")
    return await run_in_threadpool(ar.annual_report, ctx.deployment, enterprise.lower(), year)


@router.get("/v1/regulator/reports/{enterprise}/{year}", tags=["regulator"], summary="The annual report of any enterprise")
async def get_report_for_regulator(enterprise: str = Path(pattern=HEX32), year: int = Path(ge=1971, le=9999),
                                   p: Principal = Depends(require_role("REGULATOR_ROLE")),
                                   ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Any enterprise's report (``not-found`` if the id is not an admitted enterprise)."""
    dep = ctx.deployment
    org = await run_in_threadpool(dep.participants.organisation, bytes.fromhex(enterprise[2:]))
    if org.role != dep.role("ENTERPRISE_ROLE"):
        raise Problem("not-found", f"no enterprise {enterprise}")
    return await run_in_threadpool(ar.annual_report, dep, enterprise.lower(), year)


def _compliance(ctx: AppContext, p: Principal, year: int) -> dict[str, Any]:
    dep = ctx.deployment
    org = bytes.fromhex(p.org_id[2:])
    t = dep.emissions.confirmedTotals(org, year)
    out: dict[str, Any] = {"year": year, "enterprise": p.org_id.lower(),
                           "confirmed": {"emissions_kgco2": t.emissionsKgTotal, "emissions_tco2e": str(ar.kg_to_tonnes(t.emissionsKgTotal)),
                                         "electricity_supplied_wh": t.electricitySuppliedWh, "heat_supplied_mj": t.heatSuppliedMJ,
                                         "records": t.confirmedRecords}}
    if dep.compliance.period(year).opened:
        st = dep.compliance.status(year, org).as_json()
        st["status"] = STATUS_NAMES[st["status"]] if st["status"] < len(STATUS_NAMES) else st["status"]
        st["deduction"] = DEDUCTION_NAMES[st["deduction"]] if st["deduction"] < len(DEDUCTION_NAMES) else st["deduction"]
        out["period_open"], out["compliance"] = True, st
    else:
        out["period_open"], out["compliance"] = False, None
    out["holdings"] = positions(ctx, p.account)
    return out


@router.get("/v1/enterprise/compliance/{year}", tags=["enterprise"], summary="The enterprise's compliance position for a year")
async def get_compliance(year: int = Path(ge=1971, le=9999), p: Principal = Depends(enterprise),
                         ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Confirmed emissions (kgCO2, tCO2e) and outputs; the Compliance status row (obligation,
    surrendered CEA/CCER, CCER cap, status, shortfall, penalty range in fen, deduction) when the
    year's compliance period is open (``compliance: null`` otherwise); the caller's holdings
    (tCO2e per asset), cash (fen) and freeze flag."""
    return await run_in_threadpool(_compliance, ctx, p, year)
