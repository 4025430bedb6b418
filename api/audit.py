"""Audit queries (read-only): anchored batches, reading inclusion proofs, record provenance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from api.auth import Principal, require_role
from api.deps import AppContext, context, oracle_node
from api.problems import Problem
from api.records_common import scoped_record
from api.registry import serial_lookup
from api.schemas import ReadingProofOut
from ledger.records.audit import NotFound, batch_provenance, record_provenance
from ledger.records.queries import confirmed_totals

router = APIRouter(prefix="/v1/audit", tags=["audit"])
HEX32 = r"^0x[0-9a-fA-F]{64}$"


@router.get("/serials", summary="A CCER serial's status and the events that issued and marked it")
async def get_serial(serial: str = Query(min_length=2, max_length=200, examples=["CCER-CN-1001-2021-57"]),
                     ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """As ``GET /v1/registry/serials``, read-only for auditors: status (unissued, active, retired,
    cancelled, surrendered), the run around it, the issuing batch and the marking event."""
    return await run_in_threadpool(serial_lookup, ctx, serial)


@router.get("/batches/{batch_id}", summary="An anchored batch with its oracle signatures")
async def get_batch(batch_id: int = Path(ge=1), ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Stored fields of the batch (period UTC s, count, totalWh, root), the anchoring transaction,
    the report digest, and the oracle signers and signatures emitted at anchoring."""
    try:
        return await run_in_threadpool(batch_provenance, ctx.deployment, batch_id)
    except NotFound as exc:
        raise Problem("not-found", str(exc)) from None


@router.get("/records/{record_id}", summary="A monthly emissions record with its full provenance")
async def get_record(record_id: int = Path(ge=1), ctx: AppContext = Depends(context),
                     p: Principal = Depends(require_role("REGULATOR_ROLE", "ENTERPRISE_ROLE", "VERIFIER_ROLE"))) -> dict[str, Any]:
    """The record (activity Wh, EF ×1e4, kgCO2, status, verifier, hashes), every batch it sums
    with the oracle signatures, the factor set with its citation, and its life-cycle events.
    Scope: the regulator, the record's enterprise, its assigned verifier."""
    await run_in_threadpool(scoped_record, ctx.deployment, p, record_id)
    try:
        return await run_in_threadpool(record_provenance, ctx.deployment, record_id)
    except NotFound as exc:
        raise Problem("not-found", str(exc)) from None


@router.get("/readings/{device}/{sequence}/proof", response_model=ReadingProofOut,
            summary="A reading's Merkle inclusion proof, checked on-chain")
async def get_reading_proof(device: str = Path(pattern=HEX32), sequence: int = Path(ge=0, le=2**63 - 1, description="reading sequence number (stored as a signed 64-bit integer)"),
                            ctx: AppContext = Depends(context), node: Any = Depends(oracle_node),
                            p: Principal = Depends(require_role("REGULATOR_ROLE", "ENTERPRISE_ROLE", "VERIFIER_ROLE"))) -> ReadingProofOut:
    """The stored reading with its device signature and leaf, the proof against the root of the
    batch that holds it, and whether ``MeterDataAnchor.verifyReading`` accepts it on-chain.
    Scope: regulator and verifiers; an enterprise only for its own devices."""
    dev = bytes.fromhex(device[2:])
    if p.role == "ENTERPRISE_ROLE":
        owner = ctx.deployment.devices.device(dev).ownerOrg
        if "0x" + owner.hex() != p.org_id.lower():
            raise Problem("not-found", f"no device {device} of {p.account}'s organisation")
    found = await run_in_threadpool(node.proof, dev, sequence)
    if found is None:
        raise Problem("not-found", f"no batched reading {sequence} of device {device} on node {node.name}")
    r, proof, rep = found
    reading = {"device": device.lower(), "sequence": r.sequence, "start": r.start, "end": r.end,
               "quantityCode": r.quantity_code, "value": r.value, "scale": r.scale, "flags": r.flags}
    verified = None
    if rep.anchored_batch_id:
        a = ctx.deployment.anchor
        tup = (dev, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags)
        verified = bool(await run_in_threadpool(ctx.deployment.client.call, a.functions.verifyReading(rep.anchored_batch_id, tup, bytes(r.signature), proof)))
    return ReadingProofOut(reading=reading, signature="0x" + r.signature.hex(), leaf="0x" + r.leaf.hex(),
                           batch_id=rep.anchored_batch_id, root="0x" + rep.root.hex(),
                           proof=["0x" + p.hex() for p in proof], verified_on_chain=verified)


public = APIRouter(prefix="/v1/public", tags=["public"])


@public.get("/totals", summary="Published totals: confirmed emissions per reporting year")
async def get_totals(ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """No authentication: what the public may see — per year, confirmed records and their kgCO2 / tCO2."""
    return {"items": await run_in_threadpool(confirmed_totals, ctx.deployment)}
