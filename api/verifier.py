"""Verifier audit client: assigned reports, their readings with Merkle proofs, the verdict."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from api.auth import Principal, require_role
from api.deps import AppContext, context, oracle_node, require_custodial
from api.pagination import PageParams, page
from api.problems import Problem
from api.records_common import scoped_record
from api.schemas import VerdictIn
from api.verification import record_batches, served_batch, server_verdict
from ledger.records import queries as records
from ledger.records import workflow
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
    bs = await run_in_threadpool(record_batches, ctx, r)
    return {"record_id": record_id, "items": [served_batch(b) for b in bs]}


@router.get("/records/{record_id}/readings", summary="An assigned record's readings with Merkle proofs (paginated)",
            responses={200: {"content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": True,
                "title": "Response Get Readings V1 Verifier Records  Record Id  Readings Get"}}}}})
async def get_readings(record_id: int = Path(ge=1), params: PageParams = Depends(), p: Principal = Depends(verifier),
                       ctx: AppContext = Depends(context), node: Any = Depends(oracle_node)) -> Response:
    """Every reading (device-signed, W) of the record's anchored batches, by sequence, each with
    its proof against the anchored root; the cursor is the last sequence number."""
    r = await run_in_threadpool(scoped_record, ctx.deployment, p, record_id)
    bs = await run_in_threadpool(record_batches, ctx, r)
    it = readings_with_proofs(node, bytes.fromhex(r["device"][2:]), bs, params.after - 1 if params.after else -1)
    body = await run_in_threadpool(_page_json, it, params)
    return Response(body, media_type="application/json")     # plain JSON types: no per-item encoder pass


def _page_json(it: Any, params: PageParams) -> bytes:
    return json.dumps(page(it, params, lambda x: x["id"] + 1), separators=(",", ":")).encode()


@router.get("/records/{record_id}/verification", summary="Re-verify an assigned record against the chain (verdict table)")
async def get_verification(record_id: int = Path(ge=1), p: Principal = Depends(verifier), ctx: AppContext = Depends(context),
                           node: Any = Depends(oracle_node)) -> dict[str, Any]:
    """The verdict of :func:`ledger.verify.provenance.verify_record` — the same code as ``carbonledger
    verify`` — computed in this process from the readings this node stores and the chain: record
    fields, batches, oracle quorum, device signatures, Merkle roots, sampled proofs on-chain, Wh
    per batch, activity data, emission factor, emissions (kgCO2), evidence hashes. ``checks`` lists each row
    (name, expected, found, status pass/fail/skip); ``passed``, ``report_hash``, ``findings_hash``."""
    r = await run_in_threadpool(scoped_record, ctx.deployment, p, record_id)
    verdict, _ = await run_in_threadpool(server_verdict, ctx, node, r)
    return verdict.as_dict()


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
