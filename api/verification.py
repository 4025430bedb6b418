"""The provenance check run inside the API process: the in-process :class:`RecordSource` (the same
data and shapes the verifier routes serve over HTTP) and the server's verdict — the services
behind ``GET /v1/verifier/records/{id}/…`` and the portal's provenance page.

Data: the record and its anchored batches from the chain; the readings (device-signed, with their
Merkle proofs) from the oracle node this process runs (``AppContext.oracle_node``), the data
holder; the evidence listing from this API's store (as ``GET /v1/evidence``). Checks:
:func:`ledger.verify.provenance.verify_record`, the one implementation of the provenance check.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from api.deps import AppContext
from api.evidence import record_evidence
from api.problems import Problem
from ledger.contracts.anchored import AnchoredBatch
from ledger.records import queries as records
from ledger.records.audit import record_provenance
from ledger.verify.provenance import (
    ServedBatch,
    ServedEvidence,
    ServedReading,
    Verdict,
    VerifierError,
    verify_record,
)
from oracles.node import OracleNode
from oracles.proofs import readings_with_proofs


def record_batches(ctx: AppContext, r: dict[str, Any]) -> list[AnchoredBatch]:
    """The anchored batches record ``r`` (a :func:`ledger.records.queries.record` dict) sums, each
    followed to its current correction."""
    device = bytes.fromhex(r["device"][2:])
    all_b = records.device_batches(ctx.deployment, device)
    return [b.batch for b in all_b[int(r["firstBatchIndex"]):int(r["lastBatchIndex"]) + 1]]


def served_batch(b: AnchoredBatch) -> ServedBatch:
    """A batch as the API serves it (``GET /v1/verifier/records/{id}/batches`` item)."""
    return {"batch_id": b.batch_id, "start": b.start, "end": b.end, "count": b.count, "totalWh": b.total_wh,
            "root": "0x" + b.root.hex()}


class InProcessSource:
    """The :class:`ledger.verify.provenance.RecordSource` of one record read in this process: what
    the API serves a verifier over HTTP (record, batches, readings with proofs, evidence listing),
    in the same shapes.

    Args:
        ctx: the API's context (deployment, API store).
        node: the oracle node holding the readings, or None (then no reading is served: the
            reading checks fail, which is the truth).
        r: the record (:func:`ledger.records.queries.record` dict).
    """

    def __init__(self, ctx: AppContext, node: OracleNode | None, r: dict[str, Any]) -> None:
        self.ctx, self.node, self.r = ctx, node, r
        self.anchored = record_batches(ctx, r)

    def record(self, record_id: int) -> dict[str, Any]:
        """As ``GET /v1/audit/records/{id}``."""
        return record_provenance(self.ctx.deployment, record_id)

    def batches(self, record_id: int) -> list[ServedBatch]:
        """As ``GET /v1/verifier/records/{id}/batches`` (its ``items``)."""
        return [served_batch(b) for b in self.anchored]

    def readings(self, record_id: int) -> Iterator[ServedReading]:
        """As ``GET /v1/verifier/records/{id}/readings``, every page; none without an oracle node."""
        if self.node is None:
            return iter(())
        return readings_with_proofs(self.node, bytes.fromhex(self.r["device"][2:]), self.anchored)  # type: ignore[return-value]

    def evidence(self, record_id: int) -> list[ServedEvidence]:
        """As ``GET /v1/evidence?record_id=…``, every page: this API's stored evidence of the record."""
        return [e.model_dump() for e in record_evidence(self.ctx, record_id)]  # type: ignore[misc]


def server_verdict(ctx: AppContext, node: OracleNode | None, r: dict[str, Any], rng: random.Random | None = None,
                   sample_per_batch: int = 3) -> tuple[Verdict, InProcessSource]:
    """Re-verify record ``r`` with :func:`ledger.verify.provenance.verify_record` from the data this
    process serves, against the chain. Returns the verdict and the source (its batches).

    Raises:
        Problem: ``validation-error`` if the record is not from anchored meter data;
            ``chain-unavailable`` if the chain cannot be read.
    """
    record_id = int(r["record_id"])
    if r["source"] != 1:
        raise Problem("validation-error", f"record {record_id} is not from anchored meter data; nothing to re-verify",
                      errors=[{"field": "path.record_id", "message": "not an anchored-meter-data record"}])
    src = InProcessSource(ctx, node, r)
    try:
        return verify_record(ctx.deployment, None, src, record_id, sample_per_batch=sample_per_batch, rng=rng), src
    except VerifierError as exc:
        raise Problem("chain-unavailable", str(exc)) from None
