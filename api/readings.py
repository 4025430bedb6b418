"""Oracle node ingestion: ``POST /v1/readings`` (DESIGN.md §7 step 2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from api.deps import oracle_node
from api.schemas import ReadingResult, ReadingsIn, ReadingsOut
from oracles.node import SignedReading

router = APIRouter(prefix="/v1", tags=["oracle node"])


@router.post("/readings", response_model=ReadingsOut, summary="Submit a batch of device-signed readings")
async def post_readings(body: ReadingsIn, node: Any = Depends(oracle_node)) -> ReadingsOut:
    """Check every reading (device, signature, sequence, interval, plausibility), store the good
    ones and quarantine the rest with a reason — one SQL transaction; answers after it commits.
    An identical resend of an accepted reading is acknowledged as ``duplicate``."""
    batch = [SignedReading.from_json(r.model_dump()) for r in body.readings]
    acks = await run_in_threadpool(node.ingest, batch)
    results = [ReadingResult(sequence=a.sequence, status=a.status, reason=a.reason, detail=a.detail) for a in acks]
    return ReadingsOut(node=node.name, accepted=sum(a.status == "accepted" for a in acks),
                       duplicates=sum(a.status == "duplicate" for a in acks),
                       rejected=sum(a.status == "rejected" for a in acks), results=results)
