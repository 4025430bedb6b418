"""Registry (注册登记机构): CCER projects, issuance batches with serial ranges, retirements with
certificates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal, require_role
from api.deps import AppContext, context
from api.history import asset_token_id
from api.market_common import checked_address, event_args, send
from api.problems import Problem
from api.schemas import IssuanceIn, ProjectIn, RetirementIn
from ledger.accounting.assets import AssetClass, parse_asset_id
from ledger.contracts._generated.ccer_registry import DeviceMonth
from ledger.offsets.serial_status import serial_status
from ledger.offsets.serials import NO_SERIALS, parse_serial_range
from ledger.records.indexer import events

router = APIRouter(prefix="/v1/registry", tags=["registry"])
registry = require_role("REGISTRY_ROLE")


def _serials(text: str | None, field: str) -> Any:
    if not text:
        return NO_SERIALS
    try:
        return parse_serial_range(text)
    except ValueError as exc:
        raise Problem("validation-error", f"{field}: {exc}", errors=[{"field": field, "message": str(exc)}]) from None


def _b32(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 32:
        raise Problem("validation-error", f"{text!r} is longer than 32 bytes", errors=[{"field": "body", "message": "longer than 32 bytes"}])
    return raw.ljust(32, b"\0")


@router.post("/projects", status_code=201, summary="Register a CCER project")
async def post_project(body: ProjectIn, p: Principal = Depends(registry), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Project number (> 0, unique), owner (an admitted account), methodology, region, registration
    and crediting-start dates (UTC s; Compliance checks CCER eligibility against them)."""
    fn = ctx.deployment.ccer.functions.registerProject(body.project, checked_address(body.owner, "body.owner"), _b32(body.methodology),
                                                      _b32(body.region), body.registered_at, body.crediting_start, body.name)
    r = await send(ctx, p.account, fn, f"registerProject {body.project}")
    return {"project": body.project, "tx_hash": r.tx_hash}


@router.post("/issuances", status_code=201, summary="Issue a CCER batch to the project owner")
async def post_issuance(body: IssuanceIn, p: Principal = Depends(registry), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Mints ``amount`` t of CCER-<project>-<vintage> to the project owner. With ``serials`` the
    range must hold exactly ``amount`` serials and overlap no issued range of its block. With
    ``generation`` (device, year, month list) each generation device-month is claimed for CCER
    (``CCERRegistry.issueGenerationBatch``); one already backing GEC or another batch is refused
    (GenerationAlreadyClaimed)."""
    sr = _serials(body.serials, "body.serials")
    ref = bytes.fromhex(body.ref[2:]) if body.ref else bytes(32)
    if body.generation:
        months = [DeviceMonth(bytes.fromhex(m.device[2:]), m.year, m.month) for m in body.generation]
        fn = ctx.deployment.ccer.functions.issueGenerationBatch(body.project, body.vintage, body.amount, sr.prefix, sr.start,
                                                                sr.end, ref, months)
    else:
        fn = ctx.deployment.ccer.functions.issueBatch(body.project, body.vintage, body.amount, sr.prefix, sr.start, sr.end, ref)
    r = await send(ctx, p.account, fn, f"issueBatch {body.project}/{body.vintage}")
    [ev] = await run_in_threadpool(event_args, ctx, "CCERRegistry", "BatchIssued", r)
    return {"batch_id": ev.batchId, "asset_id": str(ev.assetId), "asset": str(parse_asset_id(ev.assetId)),
            "amount": body.amount, "serials": str(sr) if body.serials else None, "tx_hash": r.tx_hash}


async def retire_ccer(ctx: AppContext, caller: str, holder: str, body: RetirementIn) -> dict[str, Any]:
    """Retire CCER of an issuance batch through CCERRegistry; returns the certificate. The holder
    sends it itself (``caller == holder``), or a registry account relays it with the holder's
    signature (``CCERRegistry.retireFor``)."""
    if body.batch_id is None:
        raise Problem("validation-error", "CCER retirement needs batch_id", errors=[{"field": "body.batch_id", "message": "required for CCER"}])
    sr = _serials(body.serials, "body.serials")
    req = (holder, body.batch_id, body.amount, sr.prefix, sr.start, sr.end, body.beneficiary, body.purpose, body.reason)
    if caller.lower() == holder.lower():
        fn = ctx.deployment.ccer.functions.retire(req)
    else:
        if body.holder_signature is None or body.deadline is None:
            raise Problem("validation-error", "a relayed retirement needs the holder's signature and its deadline",
                          errors=[{"field": "body.holder_signature", "message": "required with holder"}])
        fn = ctx.deployment.ccer.functions.retireFor(req, body.deadline, bytes.fromhex(body.holder_signature[2:]))
    r = await send(ctx, caller, fn, f"retire CCER batch {body.batch_id}")
    [ev] = await run_in_threadpool(event_args, ctx, "CCERRegistry", "RetirementCertified", r)
    return await run_in_threadpool(certificate, ctx, ev.certificateId, r.tx_hash)


def certificate(ctx: AppContext, cert_id: int, tx_hash: str | None = None) -> dict[str, Any]:
    """A retirement certificate: holder, asset, amount, exact serials, beneficiary, purpose, reason,
    time, and the transaction that retired it."""
    dep = ctx.deployment
    if not 1 <= cert_id <= dep.ccer.certificateCount():
        raise Problem("not-found", f"no certificate {cert_id}")
    got = dep.ccer.certificate(cert_id)
    asset_id = got.assetId
    if tx_hash is None:
        rows = events(ctx.index(), contract="CCERRegistry", event="RetirementCertified", certificateId=cert_id, limit=1)
        tx_hash = rows[0].tx_hash if rows else None
    out = got.cert.as_json()
    return {"certificate_id": cert_id, **out, "asset_id": str(asset_id), "asset": str(parse_asset_id(int(asset_id))), "tx_hash": tx_hash}


@router.post("/retirements", status_code=201, summary="Record a retirement on a holder's instruction")
async def post_retirement(body: RetirementIn, p: Principal = Depends(registry), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """CCER only (CEA holders retire through ``POST /v1/enterprise/retirements``); ``holder``,
    ``holder_signature`` (EIP-712 ``Retirement``, CCERRegistry.retirementDigest) and ``deadline``
    are required: the registry relays the holder's signed instruction; returns the certificate
    with the exact serials retired."""
    if body.holder is None:
        raise Problem("validation-error", "holder is required", errors=[{"field": "body.holder", "message": "required"}])
    tid = _asset(body.asset)
    if parse_asset_id(tid).asset_class is not AssetClass.CCER:
        raise Problem("validation-error", "the registry records CCER retirements", errors=[{"field": "body.asset", "message": "not CCER"}])
    return await retire_ccer(ctx, p.account, checked_address(body.holder, "body.holder"), body)


def _asset(asset: str) -> int:
    return asset_token_id(asset)


def serial_lookup(ctx: AppContext, serial: str) -> dict[str, Any]:
    """:func:`ledger.offsets.serial_status.serial_status` with a malformed serial as a 422 problem."""
    try:
        return serial_status(ctx.deployment, serial)
    except ValueError as exc:
        raise Problem("validation-error", f"query.serial: {exc}", errors=[{"field": "query.serial", "message": str(exc)}]) from None


@router.get("/serials", summary="Status of one CCER serial (active, retired, cancelled, surrendered)")
async def get_serial(serial: str = Query(min_length=2, max_length=200, examples=["CCER-CN-1001-2021-57"]),
                     ctx: AppContext = Depends(context),
                     p: Principal = Depends(require_role("REGISTRY_ROLE", "REGULATOR_ROLE", "ENTERPRISE_ROLE", "PROJECT_OWNER_ROLE"))) -> dict[str, Any]:
    """``serial`` is ``<prefix><number>``. Returns its status (unissued, active, retired, cancelled,
    surrendered — a CCER surrender (清缴) marks the serials it took, issue 12), the run of serials
    around it with that status, the batch that issued it and the event that took it out of
    circulation. Serial statuses are public facts of the registry."""
    return await run_in_threadpool(serial_lookup, ctx, serial)


@router.get("/certificates/{cert_id}", summary="A retirement certificate")
async def get_certificate(cert_id: int = Path(ge=0), ctx: AppContext = Depends(context),
                          p: Principal = Depends(require_role("REGISTRY_ROLE", "REGULATOR_ROLE", "ENTERPRISE_ROLE", "PROJECT_OWNER_ROLE"))) -> dict[str, Any]:
    """Certificates are public facts of the registry: any authenticated participant may read them."""
    return await run_in_threadpool(certificate, ctx, cert_id)
