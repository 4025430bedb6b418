"""Verifier audit client: assigned reports, their readings with Merkle proofs, the verdict."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal, require_role
from api.deps import AppContext, context, oracle_node, require_custodial
from api.pagination import PageParams, page
from api.problems import Problem
from api.records_common import scoped_record
from api.schemas import VerdictIn
from ledger.records import queries as records
from ledger.records import workflow
from ledger.records.audit import record_provenance
from ledger.verify.provenance import VerifierError, verify_record
from oracles.proofs import readings_with_proofs

router = APIRouter(prefix="/v1/verifier", tags=["verifier"])
verifier = require_role("VERIFIER_ROLE")


@router.get("/records", summary="Records assigned to the calling verifier (paginated)")
async def list_assigned(params: PageParams = Depends(), p: Principal = Depends(verifier), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Only the records the regulator assigned to this verifier on-chain (``VerifierAssigned``)."""
    it = records.iter_records(ctx.deployment, params.after, verifier=p.account)
    return await run_in_threadpool(page, it, params, lambda r: r["record_id"])


@router.get("/records/{record_id}/batches", summary="The anchored batches an assigned record sums")
async def get_batches(record_id: int = Path(ge=1), p: Principal = Depends(verifier), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Each batch: id, period (UTC s), count, totalWh, anchored root."""
    r = await run_in_threadpool(scoped_record, ctx.deployment, p, record_id)
    bs = await run_in_threadpool(_record_batches, ctx, r)
    return {"record_id": record_id, "items": [{"batch_id": b.batch_id, "start": b.start, "end": b.end, "count": b.count,
                                               "totalWh": b.total_wh, "root": "0x" + b.root.hex()} for b in bs]}


def _record_batches(ctx: AppContext, r: dict[str, Any]) -> list[Any]:
    device = bytes.fromhex(r["device"][2:])
    all_b = records.device_batches(ctx.deployment, device)
    return [b.batch for b in all_b[int(r["firstBatchIndex"]):int(r["lastBatchIndex"]) + 1]]


@router.get("/records/{record_id}/readings", summary="An assigned record's readings with Merkle proofs (paginated)")
async def get_readings(record_id: int = Path(ge=1), params: PageParams = Depends(), p: Principal = Depends(verifier),
                       ctx: AppContext = Depends(context), node: Any = Depends(oracle_node)) -> dict[str, Any]:
    """Every reading (device-signed, W) of the record's anchored batches, by sequence, each with
    its proof against the anchored root; the cursor is the last sequence number."""
    r = await run_in_threadpool(scoped_record, ctx.deployment, p, record_id)
    bs = await run_in_threadpool(_record_batches, ctx, r)
    it = readings_with_proofs(node, bytes.fromhex(r["device"][2:]), bs, params.after - 1 if params.after else -1)
    return await run_in_threadpool(page, it, params, lambda x: x["id"] + 1)


class _InProcessSource:
    """The data this API serves to a verifier, read in-process (same shapes as the HTTP routes) —
    the :class:`ledger.verify.provenance.RecordSource` of the server-side verification."""

    def __init__(self, ctx: AppContext, node: Any, r: dict[str, Any]) -> None:
        self.ctx, self.node, self.r = ctx, node, r
        self._bs = _record_batches(ctx, r)

    def record(self, record_id: int) -> dict[str, Any]:
        return record_provenance(self.ctx.deployment, record_id)

    def batches(self, record_id: int) -> list[dict[str, Any]]:
        return [{"batch_id": b.batch_id, "start": b.start, "end": b.end, "count": b.count, "totalWh": b.total_wh,
                 "root": "0x" + b.root.hex()} for b in self._bs]

    def readings(self, record_id: int) -> Any:
        return readings_with_proofs(self.node, bytes.fromhex(self.r["device"][2:]), self._bs)

    def evidence(self, record_id: int) -> list[dict[str, Any]] | None:
        return None


def _server_verdict(ctx: AppContext, node: Any, r: dict[str, Any], record_id: int) -> dict[str, Any]:
    if r["source"] != 1:
        raise Problem("validation-error", f"record {record_id} is not from anchored meter data; nothing to re-verify",
                      errors=[{"field": "path.record_id", "message": "not an anchored-meter-data record"}])
    try:
        return verify_record(ctx.deployment, None, _InProcessSource(ctx, node, r), record_id).as_dict()
    except VerifierError as exc:
        raise Problem("chain-unavailable", str(exc)) from None


@router.get("/records/{record_id}/verification", summary="Re-verify an assigned record against the chain (verdict table)")
async def get_verification(record_id: int = Path(ge=1), p: Principal = Depends(verifier), ctx: AppContext = Depends(context),
                           node: Any = Depends(oracle_node)) -> dict[str, Any]:
    """The verdict of :func:`ledger.verify.provenance.verify_record` — the same code as ``carbonledger
    verify`` — computed in this process from the readings this node stores and the chain: record
    fields, batches, oracle quorum, device signatures, Merkle roots, sampled proofs on-chain, Wh
    per batch, activity data, emission factor, emissions (kgCO2). ``checks`` lists each row
    (name, expected, found, status pass/fail/skip); ``passed``, ``report_hash``, ``findings_hash``."""
    r = await run_in_threadpool(scoped_record, ctx.deployment, p, record_id)
    return await run_in_threadpool(_server_verdict, ctx, node, r, record_id)


@router.post("/records/{record_id}/verdict", summary="Attest or reject an assigned record")
async def post_verdict(body: VerdictIn, record_id: int = Path(ge=1), p: Principal = Depends(verifier),
                       ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Default (non-custodial): ``raw_transaction`` is the verifier's own signed call of
    ``EmissionsRegistry.attest`` or ``reject`` for this record; the API checks it and relays it.
    Custodial: ``verdict``, ``report_hash`` and ``findings_hash`` instead."""
    await run_in_threadpool(scoped_record, ctx.deployment, p, record_id)
    if body.raw_transaction:
        try:
            await run_in_threadpool(workflow.relay_verdict, ctx.deployment, p.account, record_id, bytes.fromhex(body.raw_transaction[2:]))
        except workflow.TransactionNotAcceptable as exc:
            raise Problem("invalid-transaction", str(exc)) from None
    else:
        if not (body.verdict and body.report_hash and body.findings_hash):
            raise Problem("validation-error", "send raw_transaction, or verdict with report_hash and findings_hash",
                          errors=[{"field": "body.raw_transaction", "message": "required without verdict fields"}])
        await run_in_threadpool(workflow.verdict, ctx.deployment, require_custodial(ctx, p.account), record_id,
                                body.verdict == "attest", bytes.fromhex(body.report_hash[2:]), bytes.fromhex(body.findings_hash[2:]))
    return await run_in_threadpool(records.record, ctx.deployment, record_id)
