"""Portal pages (server-rendered, Jinja2, plain HTML forms; no JavaScript).

Enterprise: dashboard (records by month with status, emissions-by-month SVG chart), submit a
month with an evidence file, record detail with its status history. Verifier: review queue, a
record's provenance re-verified (roots, signatures, sampled proofs checked on-chain) and the
attest / reject form. Custodial signing: the portal's verdict and submission are signed in the
API process with the participant's custodial key (``AppContext.custodial``); a participant whose
key the API does not hold uses the API with its own signature (``raw_transaction``) instead.

Every route is a plain ``def`` (FastAPI runs it in the thread pool: chain calls block).
"""

from __future__ import annotations

import random
from pathlib import Path as FsPath
from typing import Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from api.auth import Principal
from api.deps import AppContext
from api.portal import hooks, session
from api.portal.chart import MonthBar, emissions_chart_svg
from api.portal.provenance import verify_for_portal
from api.portal.timefmt import local_date, local_time, offset_label
from api.problems import Problem
from api.records_common import scoped_record
from ledger.chain.client import ChainError, ContractRevert
from ledger.contracts._generated.device_registry import DeviceRegistered
from ledger.contracts._generated.emission_factor_registry import FactorSetPublished
from ledger.records import queries as records
from ledger.records import workflow
from ledger.records.audit import record_provenance

router = APIRouter(prefix="/portal", include_in_schema=False)
templates = Jinja2Templates(directory=str(FsPath(__file__).parent / "templates"))
DEVICE_STATUS = ("none", "active", "revoked")


@pass_context
def _localtime(context: Context, unix_s: int | float | None, seconds: bool = False) -> str:
    """Jinja filter ``localtime``: UTC seconds as a date and time in the viewer's local time with
    its offset (the page's ``tz_offset``, :func:`api.portal.timefmt.local_time`); "—" for None or 0."""
    if not unix_s:
        return "—"
    return local_time(unix_s, int(context.get("tz_offset", 0)), seconds=seconds)


@pass_context
def _localdate(context: Context, unix_s: int | float | None) -> str:
    """Jinja filter ``localdate``: UTC seconds as ``YYYY-MM-DD`` in the viewer's local time."""
    return local_date(unix_s, int(context.get("tz_offset", 0))) if unix_s else "—"


templates.env.filters["localtime"] = _localtime
templates.env.filters["localdate"] = _localdate
templates.env.filters["utcoffset"] = offset_label


def _ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def _offset(request: Request, principal: Principal | None) -> int:
    """The viewer's UTC offset, seconds (its organisation's ``utcOffsetSeconds``); 0 without a session."""
    if principal is None:
        return 0
    return int(_ctx(request).deployment.participants.organisation(bytes.fromhex(principal.org_id[2:])).utcOffsetSeconds)


def _render(request: Request, name: str, principal: Principal | None, status_code: int = 200, **data: Any) -> HTMLResponse:
    """Render ``name`` with the page's common context: principal, CSRF token, flash, and the
    viewer's UTC offset (``tz_offset`` seconds, ``tz_label`` ``+08:00``) for the time filters."""
    flash = request.session.pop("flash", None) if principal is not None else None
    tz = _offset(request, principal)
    return templates.TemplateResponse(request, name, {"principal": principal, "csrf": session.csrf_token(request) if principal else "",
                                                      "flash": flash, "tz_offset": tz, "tz_label": offset_label(tz), **data},
                                      status_code=status_code)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _refusal(exc: Exception) -> str:
    """A user-facing sentence for a refused operation."""
    if isinstance(exc, ContractRevert):
        return f"the contract refused it: {exc.error}({', '.join(str(a) for a in exc.args_)})"
    if isinstance(exc, Problem):
        return exc.detail
    return str(exc)


# ------------------------------------------------------------------ log in / out
@router.get("/", summary="Portal home")
def home(request: Request) -> Response:
    """The role's home page, or the login page."""
    try:
        p = session.current(request)
    except session.LoginRequired:
        p = None
    if p is None:
        return _see_other("/portal/login")
    return _see_other(session.ROLE_HOME.get(p.role, "/portal/login"))


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, reason: str = "") -> HTMLResponse:
    """The login form (API key)."""
    return _render(request, "login.html", None, error=reason[:300])


@router.post("/login")
def login_post(request: Request, api_key: str = Form("", max_length=200)) -> Response:
    """Check the key like the Bearer path; on success open the session and go to the role's home."""
    try:
        p = session.login(request, api_key)
    except Problem as exc:
        return _render(request, "login.html", None, status_code=401, error=exc.detail)
    home_url = session.ROLE_HOME.get(p.role)
    if home_url is None:
        session.logout(request)
        return _render(request, "login.html", None, status_code=403,
                       error=f"the portal has pages for enterprises, verifiers and the regulator; {p.account} is {p.role} (use the API)")
    return _see_other(home_url)


@router.post("/logout")
def logout_post(request: Request, csrf: str = Form("")) -> Response:
    """End the session."""
    session.check_csrf(request, csrf)
    session.logout(request)
    return _see_other("/portal/login")


# ------------------------------------------------------------------ enterprise
def _devices(ctx: AppContext, org_id: str) -> list[dict[str, Any]]:
    dep = ctx.deployment
    logs = dep.devices.get_logs(DeviceRegistered, dep.manifest["deployment_block"], ownerOrg=bytes.fromhex(org_id[2:]))
    out = []
    for lg in logs:
        did = lg.event.deviceId
        d = dep.devices.device(did)
        out.append({"id": "0x" + did.hex(), "signer": d.signer, "quantity_code": d.quantityCode, "calibrated_until": d.calibratedUntil,
                    "status": DEVICE_STATUS[d.status] if d.status < len(DEVICE_STATUS) else str(d.status)})
    return out


def _factor_sets(ctx: AppContext) -> list[dict[str, Any]]:
    dep = ctx.deployment
    logs = dep.factors.get_logs(FactorSetPublished, dep.manifest["deployment_block"])
    return sorted(({"id": lg.event.factorSetId, "from_year": lg.event.fromYear, "to_year": lg.event.toYear,
                    "label": lg.event.label, "citation": lg.event.citation} for lg in logs), key=lambda f: f["id"])


def _chart_bars(recs: list[dict[str, Any]]) -> list[MonthBar]:
    latest: dict[tuple[int, int], dict[str, Any]] = {}
    for r in recs:
        if int(r.get("amendedBy", 0)) == 0:
            latest[(int(r["year"]), int(r["month"]))] = r
    return [MonthBar(f"{y}-{m:02d}", int(r["emissionsKg"]), r["status"]) for (y, m), r in sorted(latest.items())]


@router.get("/enterprise", response_class=HTMLResponse)
def enterprise_dashboard(request: Request) -> HTMLResponse:
    """Records by month with status and the emissions-by-month chart."""
    p = session.require(request, "ENTERPRISE_ROLE")
    recs = list(records.iter_records(_ctx(request).deployment, enterprise=p.org_id))
    bars = _chart_bars(recs)
    return _render(request, "enterprise_dashboard.html", p, records=list(reversed(recs)), chart=emissions_chart_svg(bars),
                   total_kg=sum(b.kg for b in bars))


@router.get("/enterprise/submit", response_class=HTMLResponse)
def submit_page(request: Request) -> HTMLResponse:
    """The submission form: device, year, month, factor set, optional evidence file."""
    p = session.require(request, "ENTERPRISE_ROLE")
    ctx = _ctx(request)
    return _render(request, "submit.html", p, devices=_devices(ctx, p.org_id), factor_sets=_factor_sets(ctx),
                   max_bytes=hooks.evidence_max_bytes(), form={})


@router.post("/enterprise/submit")
def submit_post(request: Request, csrf: str = Form(""), device: str = Form("", max_length=66), year: str = Form(""),
                month: str = Form(""), factor_set: str = Form("auto"), evidence: UploadFile | None = File(None)) -> Response:
    """Record and submit the month (custodial signing), then hand the evidence file to
    :func:`hooks.attach_evidence`; on success go to the record's page (with the file's SHA-256)."""
    p = session.require(request, "ENTERPRISE_ROLE")
    session.check_csrf(request, csrf)
    ctx = _ctx(request)
    form = {"device": device, "year": year, "month": month, "factor_set": factor_set}
    sets = _factor_sets(ctx)

    def again(msg: str, code: int = 422) -> HTMLResponse:
        return _render(request, "submit.html", p, status_code=code, devices=_devices(ctx, p.org_id), factor_sets=sets,
                       max_bytes=hooks.evidence_max_bytes(), form=form, error=msg)

    try:
        y, m = int(year), int(month)
    except ValueError:
        return again("year and month must be whole numbers")
    if not (1971 <= y <= 9999 and 1 <= m <= 12):
        return again("year must be 1971–9999 and month 1–12")
    if not (device.startswith("0x") and len(device) == 66):
        return again("choose a device")
    try:
        dev = bytes.fromhex(device[2:])
    except ValueError:
        return again("choose a device")
    if factor_set == "auto":
        fits = [f["id"] for f in sets if f["from_year"] <= y <= f["to_year"]]
        if not fits:
            return again(f"no published factor set applies to {y}")
        fs = fits[-1]
    elif factor_set.isdigit():
        fs = int(factor_set)
    else:
        return again("choose a factor set")
    data = evidence.file.read(hooks.evidence_max_bytes() + 1) if evidence is not None and evidence.filename else b""
    if len(data) > hooks.evidence_max_bytes():
        return again(f"the evidence file is larger than the limit of {hooks.evidence_max_bytes()} bytes", 413)
    try:
        if p.account not in ctx.custodial:
            return again(f"the API holds no key for {p.account}: submit through the API with your own signature", 409)
        rid = workflow.record_month(ctx.deployment, p.account, bytes.fromhex(p.org_id[2:]), dev, y, m, fs)
    except records.NoAnchoredData as exc:
        return again(str(exc), 409)
    except (ContractRevert, ChainError) as exc:
        return again(_refusal(exc), 409)
    flash: dict[str, Any] = {"message": f"record {rid} for {y}-{m:02d} submitted"}
    if data:
        try:
            att = hooks.attach_evidence(ctx, p, rid, evidence.filename or "evidence", data)   # type: ignore[union-attr]
            flash["evidence"] = {k: att[k] for k in ("filename", "size", "sha256") if k in att}
        except (hooks.EvidenceRefused, Problem, ContractRevert) as exc:
            flash["error"] = f"the record was submitted but the evidence was refused: {_refusal(exc)}"
    request.session["flash"] = flash
    return _see_other(f"/portal/enterprise/records/{rid}")


@router.get("/enterprise/records/{record_id}", response_class=HTMLResponse)
def enterprise_record(request: Request, record_id: int = Path(ge=1, le=2**63)) -> HTMLResponse:
    """One of the enterprise's records with its status history (life-cycle events)."""
    p = session.require(request, "ENTERPRISE_ROLE")
    dep = _ctx(request).deployment
    try:
        r = scoped_record(dep, p, record_id)
    except Problem as exc:
        return _render(request, "error.html", p, status_code=404, error=exc.detail)
    prov = record_provenance(dep, record_id)
    return _render(request, "record.html", p, r=r, prov=prov)


# ------------------------------------------------------------------ verifier
@router.get("/verifier", response_class=HTMLResponse)
def verifier_queue(request: Request) -> HTMLResponse:
    """Records assigned to the verifier, awaiting review first."""
    p = session.require(request, "VERIFIER_ROLE")
    recs = list(records.iter_records(_ctx(request).deployment, verifier=p.account))
    waiting = [r for r in recs if r["status"] == "submitted"]
    done = [r for r in recs if r["status"] != "submitted"]
    return _render(request, "verifier_queue.html", p, waiting=waiting, done=done)


def _provenance_page(request: Request, p: Principal, record_id: int, status_code: int = 200, **extra: Any) -> HTMLResponse:
    ctx = _ctx(request)
    try:
        r = scoped_record(ctx.deployment, p, record_id)
    except Problem as exc:
        return _render(request, "error.html", p, status_code=404, error=exc.detail)
    check = verify_for_portal(ctx, r, random.Random())
    prov = record_provenance(ctx.deployment, record_id)
    signers = {b["batch_id"]: b.get("signers", []) for b in prov["batches"]}
    return _render(request, "provenance.html", p, status_code=status_code, r=r, prov=prov, check=check, signers=signers,
                   custodial=p.account in ctx.custodial, **extra)


@router.get("/verifier/records/{record_id}", response_class=HTMLResponse)
def verifier_record(request: Request, record_id: int = Path(ge=1, le=2**63)) -> HTMLResponse:
    """The record's provenance re-verified now, and the verdict form."""
    p = session.require(request, "VERIFIER_ROLE")
    return _provenance_page(request, p, record_id)


@router.post("/verifier/records/{record_id}/verdict")
def verifier_verdict(request: Request, record_id: int = Path(ge=1, le=2**63), csrf: str = Form(""),
                     verdict: str = Form("")) -> Response:
    """Attest or reject: the portal re-runs the verification, and signs ``attest``/``reject``
    with the report's hashes using the verifier's custodial key in this API process. Attesting a
    report with findings is refused."""
    p = session.require(request, "VERIFIER_ROLE")
    session.check_csrf(request, csrf)
    if verdict not in ("attest", "reject"):
        return _provenance_page(request, p, record_id, 422, error="choose attest or reject")
    ctx = _ctx(request)
    try:
        r = scoped_record(ctx.deployment, p, record_id)
    except Problem as exc:
        return _render(request, "error.html", p, status_code=404, error=exc.detail)
    if p.account not in ctx.custodial:
        return _provenance_page(request, p, record_id, 409, error=f"the API holds no key for {p.account}: sign the verdict "
                                "yourself and send it to POST /v1/verifier/records/{id}/verdict (raw_transaction)")
    rep = verify_for_portal(ctx, r, random.Random()).report
    if verdict == "attest" and not rep.passed:
        return _provenance_page(request, p, record_id, 409, error="the verification has findings: reject the record, not attest it")
    try:
        workflow.verdict(ctx.deployment, p.account, record_id, verdict == "attest", rep.report_hash(), rep.findings_hash())
    except (ContractRevert, ChainError) as exc:
        return _provenance_page(request, p, record_id, 409, error=_refusal(exc))
    request.session["flash"] = {"message": f"record {record_id} {'attested' if verdict == 'attest' else 'rejected'}; "
                                           f"report hash 0x{rep.report_hash().hex()}"}
    return _see_other("/portal/verifier")
