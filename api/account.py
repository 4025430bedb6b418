"""The enterprise carbon account (碳账户, issue 13): ``GET /v1/enterprises/{org}/carbon-account``
(JSON) and ``…/carbon-account.pdf`` (the report with charts and a provenance appendix).

Readers: the enterprise itself, a verifier assigned to any of its records, and the regulator;
anyone else gets 403 (``not-permitted``). The account is built by :mod:`ledger.account.builder`
and rendered by :mod:`ledger.account.report_pdf`; this module parses, authorises and shapes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from api.auth import Principal, authenticate
from api.deps import AppContext, context
from api.problems import Problem
from ledger.account import builder
from ledger.account.report_pdf import account_pdf
from ledger.contracts.deployment import Deployment

router = APIRouter(prefix="/v1/enterprises", tags=["carbon account"])
ORG = Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="the enterprise's organisation id (0x + 32 bytes)")
YEAR = Query(ge=1971, le=9999, description="compliance (reporting) year")


class EnterpriseOut(BaseModel):
    """The enterprise as ParticipantRegistry holds it."""

    org_id: str
    name: str
    utc_offset_s: int
    status: str
    accounts: list[str]


class EmissionsOut(BaseModel):
    """Emissions (kgCO2) of the year's current records by scope, source and month, each split by
    status (confirmed / in_review / draft / rejected); per-source month states (confirmed, assessed,
    in_review, missing); EmissionsRegistry.annualEmissions; energy (MWh, GJ) and intensity."""

    records: list[dict[str, Any]]
    total_kg: dict[str, int]
    by_scope: dict[str, dict[str, int]]
    by_source: list[dict[str, Any]]
    by_month: list[dict[str, Any]]
    months: list[dict[str, Any]]
    annual: dict[str, Any]
    energy: dict[str, Any]


class SectionOut(BaseModel):
    """A section another registry fills in (green certificates, neutrality claims)."""

    deployed: bool
    note: str
    items: list[dict[str, Any]]


class CarbonAccountOut(BaseModel):
    """An enterprise's carbon account for a compliance year (:func:`ledger.account.builder.build_account`).
    Units: kgCO2 for emissions, tCO2e for CEA/CCER, fen for money, UTC seconds for times; every
    figure carries its provenance (record ids, batch ids and Merkle roots, serial ranges, tx hashes)."""

    enterprise: EnterpriseOut
    year: int
    as_of_block: int
    emissions: EmissionsOut
    holdings: list[dict[str, Any]]
    allowances: dict[str, Any]
    ccer: dict[str, Any]
    trades: dict[str, Any]
    compliance: dict[str, Any]
    deadlines: list[dict[str, Any]]
    green_certificates: SectionOut
    neutrality_claims: SectionOut


def readable_account(dep: Deployment, p: Principal, org: str, year: int) -> dict[str, Any]:
    """The account if ``p`` may read it (regulator; the enterprise itself; a verifier assigned to one
    of its records).

    Raises:
        Problem: ``not-found`` (no such enterprise), ``not-permitted`` (anyone else).
    """
    o = bytes.fromhex(org[2:])
    try:
        builder.enterprise(dep, o)
    except builder.UnknownEnterprise as exc:
        raise Problem("not-found", str(exc)) from None
    ok = (p.role == "REGULATOR_ROLE" or p.role == "ENTERPRISE_ROLE" and p.org_id.lower() == org.lower()
          or p.role == "VERIFIER_ROLE" and p.account.lower() in builder.verifiers_of(dep, o))
    if not ok:
        raise Problem("not-permitted", f"the carbon account of {org} is readable by the enterprise, its verifiers and the "
                                       f"regulator; {p.account} ({p.role}) is none of them")
    return builder.build_account(dep, o, year)


@router.get("/{org}/carbon-account", response_model=CarbonAccountOut, summary="An enterprise's carbon account (碳账户) for a year")
async def get_account(org: str = ORG, year: int = YEAR, p: Principal = Depends(authenticate),
                      ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Emissions by scope, source and month with record status, energy and intensity, CEA
    allocated and held, CCER held, surrendered and retired with serial ranges, trades settled,
    compliance position (obligation, surrendered, shortfall, 5 % CCER cap used) and deadlines."""
    return await run_in_threadpool(readable_account, ctx.deployment, p, org, year)


@router.get("/{org}/carbon-account.pdf", response_class=Response, summary="The carbon account as a PDF report",
            responses={200: {"content": {"application/pdf": {}}, "description": "multi-page PDF report"}})
async def get_account_pdf(org: str = ORG, year: int = YEAR, p: Principal = Depends(authenticate),
                          ctx: AppContext = Depends(context)) -> Response:
    """Summary, monthly emissions and compliance charts, table pages, provenance appendix."""
    acc = await run_in_threadpool(readable_account, ctx.deployment, p, org, year)
    pdf = await run_in_threadpool(account_pdf, acc)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="carbon-account-{org[2:10]}-{year}.pdf"'})
