"""The regulator's portal pages (server-rendered; only a REGULATOR_ROLE session opens them).

* ``/portal/regulator`` — overview: enterprises with reporting completeness of a year (enrolled
  sources × months) and compliance status (allocation, surrendered, shortfall, deadline), and a
  count of what waits in the other sections. The page is a list of ``<section>`` elements, one per
  concern (``#enterprises``, ``#queue-summary``, …): a new concern (e.g. alerts) is one more section.
* ``/portal/regulator/records`` — the records queue: assign (or re-assign) a verifier to a
  submitted record, confirm a verified one.
* ``/portal/regulator/market`` — daily settled volume and price per asset from Settlement events.
* ``/portal/regulator/offsets`` — CCER batches issued and retirement certificates; green certificates.
* ``/portal/regulator/governance`` — constitutional operations waiting for the council; members
  approve or cancel.
* ``/portal/regulator/alerts`` — early warning: alerts (filters rule, severity, subject) with their
  evidence links, anchor an alert's hash (EvidenceRegistry.anchorAlert), the rules with the last
  run's counts and not-evaluable reasons; new alerts arrive live from ``/portal/regulator/alerts/stream``
  (the API's alert stream, :func:`api.alerts.alert_events`, behind the portal session).

Acts are routine single-signer regulator acts signed with the regulator's custodial key in this API
process, through the same write functions as the API (:mod:`ledger.records.workflow` after
:func:`api.records_common.scoped_record`, :mod:`ledger.contracts.governance`), each done once per
form (:mod:`api.portal.acts`). Times are shown in the regulator's local time with its offset.
"""

from __future__ import annotations

import time
from typing import Any

from eth_utils import is_address, to_checksum_address
from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from api.alerts import alert_events
from api.auth import Principal
from api.deps import require_custodial
from api.portal import acts, session
from api.portal import alerts_view as alerts
from api.portal import regulator_view as view
from api.portal.chart import DayPoint, market_chart_svg
from api.portal.routes import _ctx, _refusal, _render, _see_other
from api.portal.timefmt import local_date
from api.problems import Problem
from api.records_common import scoped_record
from ledger.alerts.anchor import AlertHashMismatch, anchor_alert
from ledger.alerts.rules import RuleKind, Severity
from ledger.alerts.store import MAX_ID, severity_counts
from ledger.chain.client import ChainError, ContractRevert
from ledger.contracts import governance
from ledger.records import queries as records
from ledger.records import workflow

router = APIRouter(prefix="/portal/regulator", include_in_schema=False)
ROLE = "REGULATOR_ROLE"


def _regulator(request: Request) -> Principal:
    return session.require(request, ROLE)


# ------------------------------------------------------------------ overview
@router.get("", response_class=HTMLResponse)
def overview(request: Request, year: int | None = Query(None, ge=1971, le=9999)) -> HTMLResponse:
    """Enterprises with completeness and compliance status of ``year`` (default: the newest year
    with records), and counts of the queue, market, offsets and governance sections."""
    p = _regulator(request)
    dep = _ctx(request).deployment
    recs = list(records.iter_records(dep))
    offset = view.organisation_offset(dep, p.org_id)
    years = view.reporting_years(dep, recs, int(local_date(time.time(), offset)[:4]))
    y = year if year is not None else max(int(r["year"]) for r in recs) if recs else years[0]
    ents = view.organisations(dep, "ENTERPRISE_ROLE")
    comp = view.compliance(dep, y, [e.org_id for e in ents])
    rows = []
    for e in ents:
        mine = [r for r in recs if r["enterprise"].lower() == e.org_id.lower()]
        rows.append({"org": e, "completeness": view.completeness(dep, e.org_id, y, mine),
                     "compliance": comp["rows"].get(e.org_id.lower()), "allocation": view.allocation(dep, y, e.org_id)})
    queue = view.records_queue(recs)
    gov = view.pending_governance(dep, p.account)
    return _render(request, "regulator_overview.html", p, year=y, years=sorted(set(years) | {y}, reverse=True), rows=rows,
                   comp=comp, queue=queue, gov=gov, labels=view.CELL_LABELS,
                   short=view.CELL_SHORT, alert_counts=severity_counts(_ctx(request).api_store),
                   severities=alerts.SEVERITIES)


# ------------------------------------------------------------------ records queue
def _queue_page(request: Request, p: Principal, status_code: int = 200, **extra: Any) -> HTMLResponse:
    dep = _ctx(request).deployment
    queue = view.records_queue(list(records.iter_records(dep)))
    names = {o.org_id.lower(): o.name for o in view.organisations(dep, "ENTERPRISE_ROLE")}
    return _render(request, "regulator_records.html", p, status_code=status_code, queue=queue, names=names,
                   verifiers=view.active_verifiers(dep), idem=acts.new_key(), custodial=p.account in _ctx(request).custodial,
                   **extra)


@router.get("/records", response_class=HTMLResponse)
def records_page(request: Request) -> HTMLResponse:
    """Submitted records (assign a verifier) and verified ones (confirm)."""
    return _queue_page(request, _regulator(request))


def _act(request: Request, p: Principal, idem: str, where: str, form: str, act: Any) -> Response:
    """Run a queue act once; on success back to the queue with a flash, else the queue with the error."""
    ctx = _ctx(request)
    try:
        out = acts.once(ctx.api_store, ctx.deployment.client, p, idem, where, form, act)
    except acts.ActRefused as exc:
        return _queue_page(request, p, 409, error=str(exc))
    except Problem as exc:
        return _queue_page(request, p, 404 if exc.slug == "not-found" else 409, error=exc.detail)
    except (ContractRevert, ChainError) as exc:
        return _queue_page(request, p, 409, error=_refusal(exc))
    request.session["flash"] = {"message": out.message + (" (already done: nothing was sent again)" if out.replayed else "")}
    return _see_other("/portal/regulator/records")


@router.post("/records/{record_id}/verifier")
def assign_verifier(request: Request, record_id: int = Path(ge=1, le=2**63), csrf: str = Form(""), idem: str = Form(""),
                    verifier: str = Form("", max_length=42)) -> Response:
    """Assign (or re-assign) ``verifier`` to submitted record ``record_id`` (EmissionsRegistry.assignVerifier)."""
    p = _regulator(request)
    session.check_csrf(request, csrf)
    if not is_address(verifier):
        return _queue_page(request, p, 422, error=f"choose a verifier (an account address), got {verifier[:42]!r}")
    who = to_checksum_address(verifier)
    ctx = _ctx(request)

    def act() -> str:
        scoped_record(ctx.deployment, p, record_id)
        workflow.assign_verifier(ctx.deployment, require_custodial(ctx, p.account), record_id, who)
        return f"record {record_id}: verifier {who} assigned"

    return _act(request, p, idem, f"POST /portal/regulator/records/{record_id}/verifier", who, act)


@router.post("/records/{record_id}/confirm")
def confirm(request: Request, record_id: int = Path(ge=1, le=2**63), csrf: str = Form(""), idem: str = Form("")) -> Response:
    """Confirm verified record ``record_id`` (EmissionsRegistry.confirm: Verified → Confirmed)."""
    p = _regulator(request)
    session.check_csrf(request, csrf)
    ctx = _ctx(request)

    def act() -> str:
        scoped_record(ctx.deployment, p, record_id)
        workflow.confirm(ctx.deployment, require_custodial(ctx, p.account), record_id)
        r = records.record(ctx.deployment, record_id)
        return f"record {record_id} confirmed: {r['emissionsKg']} kgCO2"

    return _act(request, p, idem, f"POST /portal/regulator/records/{record_id}/confirm", str(record_id), act)


# ------------------------------------------------------------------ market, offsets
@router.get("/market", response_class=HTMLResponse)
def market(request: Request) -> HTMLResponse:
    """Daily settled volume and volume-weighted price per asset, chart and table."""
    p = _regulator(request)
    days = view.market_days(_ctx(request).deployment)
    assets = sorted({d.asset for d in days})
    charts = [(a, market_chart_svg(a, [DayPoint(d.day, d.volume_t, d.vwap_fen) for d in days if d.asset == a])) for a in assets]
    return _render(request, "regulator_market.html", p, days=days, charts=charts)


@router.get("/offsets", response_class=HTMLResponse)
def offsets(request: Request) -> HTMLResponse:
    """CCER batches issued and retirement certificates; green certificates issued and retired."""
    p = _regulator(request)
    dep = _ctx(request).deployment
    return _render(request, "regulator_offsets.html", p, off=view.offsets(dep), gec=view.green_certificates(dep))


# ------------------------------------------------------------------ governance
def _gov_page(request: Request, p: Principal, status_code: int = 200, **extra: Any) -> HTMLResponse:
    return _render(request, "regulator_governance.html", p, status_code=status_code,
                   gov=view.pending_governance(_ctx(request).deployment, p.account), idem=acts.new_key(),
                   custodial=p.account in _ctx(request).custodial, **extra)


@router.get("/governance", response_class=HTMLResponse)
def governance_page(request: Request) -> HTMLResponse:
    """Operations waiting for the council's approval or in the Constitution's delay."""
    return _gov_page(request, _regulator(request))


@router.post("/governance/{op_id}/{action}")
def governance_act(request: Request, op_id: str = Path(pattern=r"^0x[0-9a-fA-F]{64}$"), action: str = Path(pattern="^(approve|cancel)$"),
                   csrf: str = Form(""), idem: str = Form("")) -> Response:
    """A council member approves (the k-th approval schedules it) or cancels operation ``op_id``."""
    p = _regulator(request)
    session.check_csrf(request, csrf)
    ctx = _ctx(request)
    dep = ctx.deployment
    if not governance.is_governed(dep):
        return _gov_page(request, p, 409, error="this deployment has no council yet")
    if p.account.lower() not in {m.lower() for m in dep.council.members()}:
        return _gov_page(request, p, 403, error=f"{p.account} is not a member of the regulator council")
    if p.account not in ctx.custodial:
        return _gov_page(request, p, 409, error=f"the API holds no key for {p.account}: approve with `carbonledger governance`")
    try:
        op = governance.find_operation(dep, bytes.fromhex(op_id[2:]))
    except governance.GovernanceError as exc:
        return _gov_page(request, p, 404, error=str(exc))

    def act() -> str:
        if action == "approve":
            governance.approve(dep, op, p.account)
            st = governance.state(dep, op)
            return f"operation {op_id[:10]}… approved: {st.approvals} of {st.threshold}" + (", scheduled" if st.ready_at else "")
        governance.cancel(dep, op, p.account)
        return f"operation {op_id[:10]}… cancelled"

    try:
        out = acts.once(ctx.api_store, dep.client, p, idem, f"POST /portal/regulator/governance/{op_id}/{action}", op_id, act)
    except acts.ActRefused as exc:
        return _gov_page(request, p, 409, error=str(exc))
    except (ContractRevert, ChainError) as exc:
        return _gov_page(request, p, 409, error=_refusal(exc))
    request.session["flash"] = {"message": out.message + (" (already done: nothing was sent again)" if out.replayed else "")}
    return _see_other("/portal/regulator/governance")


# ------------------------------------------------------------------ early warning
def _alerts_page(request: Request, p: Principal, rule: str | None = None, severity: str | None = None,
                 subject: str | None = None, status_code: int = 200, **extra: Any) -> HTMLResponse:
    data = alerts.gather(_ctx(request).api_store, rule or None, severity or None, subject or None)
    return _render(request, "regulator_alerts.html", p, status_code=status_code, page=data, severities=alerts.SEVERITIES,
                   f_rule=rule or "", f_severity=severity or "", f_subject=subject or "", idem=acts.new_key(),
                   kinds=[k.value for k in RuleKind],
                   custodial=p.account in _ctx(request).custodial, **extra)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, rule: str | None = Query(None, max_length=80),
                severity: Severity | None = Query(None), subject: str | None = Query(None, max_length=80)) -> HTMLResponse:
    """Alerts (newest first, filtered by rule id, severity, subject), the rules with the last run's
    counts and not-evaluable reasons, the last run per data set."""
    p = _regulator(request)
    return _alerts_page(request, p, rule, severity.value if severity else None, subject)


@router.get("/alerts/stream")
async def alerts_stream(request: Request, after: int = Query(0, ge=0, le=MAX_ID)) -> StreamingResponse:
    """Server-sent events of alerts stored after id ``after`` for the page's live list (the API's
    stream, :func:`api.alerts.alert_events`, authorised by the portal session)."""
    _regulator(request)
    once = "text/event-stream" not in request.headers.get("accept", "").lower()
    return StreamingResponse(alert_events(request, _ctx(request).api_store, after, once), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


@router.post("/alerts/{alert_id}/anchor")
def anchor(request: Request, alert_id: int = Path(ge=1, le=MAX_ID), csrf: str = Form(""), idem: str = Form("")) -> Response:
    """Anchor alert ``alert_id``'s hash (EvidenceRegistry.anchorAlert, the regulator's custodial key),
    once per form (:mod:`api.portal.acts`)."""
    p = _regulator(request)
    session.check_csrf(request, csrf)
    ctx = _ctx(request)

    def act() -> str:
        a = anchor_alert(ctx.deployment, ctx.api_store, require_custodial(ctx, p.account), alert_id)
        return f"alert {alert_id} anchored: {a['alert_hash'][:10]}… in transaction {a['anchor_tx']}"

    try:
        out = acts.once(ctx.api_store, ctx.deployment.client, p, idem, f"POST /portal/regulator/alerts/{alert_id}/anchor",
                        str(alert_id), act)
    except acts.ActRefused as exc:
        return _alerts_page(request, p, status_code=409, error=str(exc))
    except LookupError:
        return _alerts_page(request, p, status_code=404, error=f"no alert {alert_id}")
    except AlertHashMismatch as exc:
        return _alerts_page(request, p, status_code=409, error=str(exc))
    except Problem as exc:
        return _alerts_page(request, p, status_code=409, error=exc.detail)
    except (ContractRevert, ChainError) as exc:
        return _alerts_page(request, p, status_code=409, error=_refusal(exc))
    request.session["flash"] = {"message": out.message + (" (already done: nothing was sent again)" if out.replayed else "")}
    return _see_other("/portal/regulator/alerts")
