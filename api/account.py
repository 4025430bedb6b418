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
from pydantic import BaseModel, ConfigDict

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
    in_review, missing); EmissionsRegistry.annualEmissions; energy (MWh, GJ) and intensity; the
    location- and market-based scope 2 lines of purchased electricity per month (``scope2_dual``)."""

    records: list[dict[str, Any]]
    total_kg: dict[str, int]
    by_scope: dict[str, dict[str, int]]
    by_source: list[dict[str, Any]]
    by_month: list[dict[str, Any]]
    months: list[dict[str, Any]]
    annual: dict[str, Any]
    energy: dict[str, Any]
    scope2_dual: dict[str, Any]


class HoldingOut(BaseModel):
    """A non-zero balance (tCO2e) of one asset over the enterprise's accounts."""

    asset: str
    asset_id: str
    asset_class: str
    quantity_t: int
    by_account: dict[str, int]


class IssuanceOut(BaseModel):
    """A CarbonAssets ``Issued`` of the year's CEA to an account of the enterprise."""

    to: str
    amount_t: int
    ref: str
    tx_hash: str
    block: int


class AllowancesOut(BaseModel):
    """CEA of the year's vintage: Allocation entry (tCO2e), issuance transactions, quantity held."""

    asset: str
    asset_id: str
    pre_allocation_t: int
    final_allocation_t: int
    final_issued_t: int
    clawed_back_t: int
    deduction_t: int
    finalised: bool
    issued_t: int
    issued: list[IssuanceOut]
    held_t: int


class CcerUnitsOut(BaseModel):
    """CCER surrendered (清缴) for the year or retired (注销): serial range and transaction."""

    asset: str
    batch_id: int
    amount_t: int
    serials: str | None
    holder: str
    tx_hash: str
    block: int
    certificate_id: int | None = None
    beneficiary: str | None = None
    purpose: str | None = None
    retired_at: int | None = None


class CcerOut(BaseModel):
    """CCER held, surrendered for the year and retired (tCO2e)."""

    held: list[HoldingOut]
    held_t: int
    surrendered: list[CcerUnitsOut]
    surrendered_t: int
    retired: list[CcerUnitsOut]
    retired_t: int


class TradeOut(BaseModel):
    """A settled trade of the enterprise (quantity tCO2e, price fen/t, value fen, time UTC s)."""

    trade_id: str
    side: str
    asset: str
    quantity_t: int
    price_fen: int
    value_fen: int
    counterparty: str
    settled_at: int
    tx_hash: str
    block: int


class TradesOut(BaseModel):
    """Trades settled in CEA of the year and in CCER, with totals."""

    trades: list[TradeOut]
    bought_t: int
    sold_t: int
    paid_fen: int
    received_fen: int


class SurrenderOut(BaseModel):
    """A Compliance ``Surrendered`` of the enterprise for the year."""

    asset: str
    amount_t: int
    ccer: bool
    late: bool
    holder: str
    tx_hash: str
    block: int


class ComplianceOut(BaseModel):
    """Compliance.statusTable of the enterprise-year (tCO2e, fen) with the deadline (UTC s) and its
    citation; only ``opened`` and ``note`` when no period of the year is open."""

    opened: bool
    note: str | None = None
    deadline: int | None = None
    deadline_citation: str | None = None
    ccer_cap_citation: str | None = None
    opened_tx: str | None = None
    counts_purchased_electricity: bool | None = None
    emissions_t: int | None = None
    allocation_t: int | None = None
    allocation_final: bool | None = None
    obligation_t: int | None = None
    cea_surrendered_t: int | None = None
    ccer_surrendered_t: int | None = None
    surrendered_t: int | None = None
    ccer_cap_t: int | None = None
    ccer_cap_bps: int | None = None
    ccer_cap_used: float | None = None
    shortfall_t: int | None = None
    status: str | None = None
    penalty_min_fen: int | None = None
    penalty_max_fen: int | None = None
    price_fen: int | None = None
    surrenders: list[SurrenderOut] = []


class DeadlineOut(BaseModel):
    """A deadline (UTC s: the first second past it) with its source and firmness."""

    what: str
    due: int
    citation: str


class SectionOut(BaseModel):
    """A section read from an issue-13 registry: green certificates
    (:func:`ledger.account.builder.green_certificates`: ``items`` the retirements, plus
    ``retired_mwh``, ``retired_mwh_by_month``, ``held``, ``held_mwh``) or neutrality claims
    (:func:`ledger.account.builder.neutrality_claims`: ``items`` the claims with their page).
    ``deployed`` False on a deployment without the registry."""

    model_config = ConfigDict(extra="allow")

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
    holdings: list[HoldingOut]
    allowances: AllowancesOut
    ccer: CcerOut
    trades: TradesOut
    compliance: ComplianceOut
    deadlines: list[DeadlineOut]
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
