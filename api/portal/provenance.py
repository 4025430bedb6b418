"""The verifier pages' re-verification of a record (the same checks as the API's verifier flow).

Data: the record and its anchored batches from the chain; the readings (with device signatures)
from the oracle node this API process runs (``AppContext.oracle_node``) — the data holder.
Checks: :func:`ledger.verification.verify_record` (Merkle roots, counts and Wh rebuilt from the
readings, every device signature, sampled inclusion proofs via ``MeterDataAnchor.verifyReading``
on-chain, the emissions formula of :mod:`ledger.units`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ledger import records
from ledger.crypto import Reading, address_bytes, reading_leaf
from ledger.deployment import Deployment
from ledger.verification import AnchoredBatch, VerificationReport, verify_record


@dataclass
class ProofCheck:
    """One sampled inclusion proof and the chain's answer (``MeterDataAnchor.verifyReading``)."""

    batch_id: int
    sequence: int
    leaf: str
    proof_len: int
    verified: bool


@dataclass
class PortalVerification:
    """The report plus what the page shows besides it: the batches and each sampled proof."""

    report: VerificationReport
    batches: list[AnchoredBatch]
    proofs: list[ProofCheck]
    readings_source: str | None     # oracle node name, None when this process has no readings


def verify_for_portal(dep: Deployment, oracle_node: Any | None, record: dict[str, Any],
                      rng: random.Random | None = None, sample_per_batch: int = 3) -> PortalVerification:
    """Re-verify ``record`` (a :func:`ledger.records.record` dict) for the verifier's page.

    Without an oracle node no reading can be served: every batch then fails its root, count and
    energy checks (a finding each), which is the truth — the verifier cannot attest that.
    """
    device = bytes.fromhex(record["device"][2:])
    all_b = records.device_batches(dep, device)
    batches = [b.batch for b in all_b[int(record["firstBatchIndex"]):int(record["lastBatchIndex"]) + 1]]
    signer = address_bytes(dep.client.call(dep.devices.functions.device(device))[1])
    proofs: list[ProofCheck] = []

    def readings_of(b: AnchoredBatch) -> list[tuple[Reading, bytes]]:
        if oracle_node is None:
            return []
        return [(Reading(r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags), bytes(r.signature))
                for r in oracle_node.readings_between(device, b.start, b.end)]

    def on_chain(batch_id: int, rd: Reading, proof: list[bytes]) -> bool:
        t = (rd.device, rd.sequence, rd.start, rd.end, rd.quantity_code, rd.value, rd.scale, rd.flags)
        ok = bool(dep.client.call(dep.anchor.functions.verifyReading(batch_id, t, proof)))
        proofs.append(ProofCheck(batch_id, rd.sequence, "0x" + reading_leaf(rd).hex(), len(proof), ok))
        return ok

    rep = verify_record(record_id=int(record["record_id"]), device=device, device_signer=signer,
                        domain_separator=dep.domain.separator, batches=batches, readings_of=readings_of,
                        verify_on_chain=on_chain, factor_value=int(record["factorValue"]),
                        factor_set_id=int(record["factorSetId"]), recorded_wh=int(record["activityAmount"]),
                        recorded_kg=int(record["emissionsKg"]), sample_per_batch=sample_per_batch, rng=rng)
    if oracle_node is None:
        rep.findings.insert(0, "this API process runs no oracle node: no reading could be served")
    return PortalVerification(rep, batches, proofs, getattr(oracle_node, "name", None))
