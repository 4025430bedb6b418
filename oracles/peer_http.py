"""HTTP endpoints between the oracle nodes of a cluster (``/v1/oracle/...``), mounted beside the
node's ``POST /v1/readings`` by the node process (:mod:`scripts.oracle_node`). A route parses, calls one node or
:class:`oracles.network.AnchorService` method and shapes the answer (business logic stays in
oracles/). Bound to 127.0.0.1 by the service; see the report's open points on peer authentication.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from oracles.network import outcome_to_json, report_to_json

router = APIRouter(prefix="/v1/oracle", tags=["oracle network"])
#: The proofs a node serves from its store (also outside a cluster).
proofs = APIRouter(prefix="/v1/oracle", tags=["oracle node"])

Hex32 = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
U64 = Field(ge=0, lt=2**64)


class PeriodIn(BaseModel):
    """One device's period [start, end) in UTC seconds."""

    model_config = ConfigDict(extra="forbid")
    device: str = Hex32
    start: int = U64
    end: int = U64


class CorrectionIn(PeriodIn):
    """A period, the batch to supersede and its root."""

    batchId: int = Field(ge=1)  # noqa: N815 - wire name
    anchoredRoot: str = Hex32   # noqa: N815


class AnchoredIn(BaseModel):
    """The batch id a signed report was anchored as."""

    model_config = ConfigDict(extra="forbid")
    device: str = Hex32
    start: int = U64
    configDigest: str = Hex32   # noqa: N815
    batchId: int = Field(ge=1)  # noqa: N815
    supersedes: str = Field(default="0x" + "00" * 32, pattern=r"^0x[0-9a-fA-F]{64}$")


class RoundIn(BaseModel):
    """An anchor round: one device, consecutive periods in time order."""

    model_config = ConfigDict(extra="forbid")
    device: str = Hex32
    periods: list[tuple[int, int]] = Field(min_length=1, max_length=10_000)
    correct: bool = True
    waitS: float | None = Field(default=None, ge=0, le=600)  # noqa: N815


def _b(h: str) -> bytes:
    return bytes.fromhex(h[2:])


def _period(p: PeriodIn) -> tuple[bytes, int, int]:
    if p.end <= p.start:
        raise HTTPException(422, f"period end {p.end} must be after start {p.start}")
    return _b(p.device), p.start, p.end


def _node(request: Request) -> Any:
    return request.app.state.ctx.oracle_node


@router.get("/info", summary="This node: name, signing address, place in the cluster")
def info(request: Request) -> dict[str, Any]:
    svc = request.app.state.anchor_service
    return {"name": svc.node.name, "address": svc.node.address, "index": svc.index,
            "members": [m.__dict__ for m in svc.cluster.members], "takeoverS": svc.cluster.takeover_s}


@router.post("/reports", summary="Build (once) and return this node's signed report of a period")
def reports(body: PeriodIn, request: Request) -> dict[str, Any] | None:
    """The node's EIP-712 signed batch report of the period (null if it holds no reading).
    Closes the period on this node: later readings in it are late (correction batch)."""
    try:
        r = _node(request).build_report(*_period(body))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return None if r is None else report_to_json(r)


@router.post("/corrections", summary="This node's signed correcting report of an anchored period")
def corrections(body: CorrectionIn, request: Request) -> dict[str, Any] | None:
    """Null if the node's readings make exactly ``anchoredRoot`` (nothing to correct)."""
    try:
        r = _node(request).build_correction(*_period(body), body.batchId, _b(body.anchoredRoot))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return None if r is None else report_to_json(r)


@router.post("/anchored", summary="Record the batch id a signed report was anchored as")
def anchored(body: AnchoredIn, request: Request) -> dict[str, str]:
    _node(request).mark_anchored(_b(body.device), body.start, _b(body.configDigest), body.batchId, _b(body.supersedes))
    return {"status": "ok"}


@router.post("/anchor", summary="Run an anchor round (rotation with takeover; see oracles/network.py)")
def anchor(body: RoundIn, request: Request) -> list[dict[str, Any]]:
    """Blocks until the round is done on this node; returns one outcome per period."""
    periods = [(int(s), int(e)) for s, e in body.periods]
    if any(e <= s for s, e in periods):
        raise HTTPException(422, "every period needs start < end")
    out = request.app.state.anchor_service.run_round(_b(body.device), periods, body.correct, body.waitS)
    return [outcome_to_json(o) for o in out]


@router.get("/conflicts", summary="Signer conflicts this node recorded (oracles that signed another root)")
def conflicts(request: Request) -> list[dict[str, Any]]:
    return _node(request).conflicts()


@proofs.get("/proofs/{device}/{sequence}", summary="A stored reading with its Merkle proof and the batch holding it")
def proof(request: Request, device: str = Path(pattern=r"^0x[0-9a-fA-F]{64}$"),
          sequence: int = Path(ge=0, le=2**63 - 1, description="reading sequence number (signed 64-bit in the store)")) -> dict[str, Any]:
    """The reading as stored (device-signed, W), its leaf and its proof against the root of the
    batch this node signed for it, with that batch's anchored id (null until anchored): anyone
    checks it with ``MeterDataAnchor.verifyReading``. 404 if the node holds no batched reading."""
    found = _node(request).proof(_b(device), sequence)
    if found is None:
        raise HTTPException(404, f"no batched reading {sequence} of device {device} on this node")
    r, path, rep = found
    return {"reading": {"device": "0x" + r.device.hex(), "sequence": r.sequence, "start": r.start, "end": r.end,
                        "quantityCode": r.quantity_code, "value": r.value, "scale": r.scale, "flags": r.flags},
            "signature": "0x" + r.signature.hex(), "leaf": "0x" + r.leaf.hex(), "root": "0x" + rep.root.hex(),
            "batch_id": rep.anchored_batch_id, "proof": ["0x" + p.hex() for p in path]}
