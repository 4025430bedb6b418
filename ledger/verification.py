"""Verification of a monthly emissions record back to the signed meter readings.

What a verifier (核查机构) does before attesting (DESIGN.md §1, §7 step 4):

1. for every anchored batch the record sums, rebuild the Merkle root, the reading count and
   the energy total (Wh) from the readings the data holder serves, and compare them with the
   anchored values;
2. check every reading's device signature against the device's registered signing address;
3. check a random sample of inclusion proofs with ``MerkleProof`` on-chain
   (``MeterDataAnchor.verifyReading``), so the chain itself vouches for the proofs;
4. recompute the activity data (Σ batch Wh) and the emissions with the factor set's published
   value, exactly as the contract does (:mod:`ledger.units`), and compare with the record.

The result is a :class:`VerificationReport` whose canonical JSON hash is what the verifier
attests on-chain; its findings say precisely what failed.

Superseded by :func:`ledger.verifier.verify_record` (the one verifier: ``carbonledger verify``,
the demo's verifier step and ``GET /v1/verifier/records/{id}/verification`` use it); this module's
dataclasses (:class:`AnchoredBatch`, :class:`BatchCheck`) are still shared, and its
``verify_record`` is kept only for callers not yet moved.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ledger.crypto import InvalidSignature, Reading, reading_digest, reading_leaf, recover_address_bytes
from ledger.merkle import StandardMerkleTree
from ledger.units import emissions_kg, energy_wh


@dataclass(frozen=True)
class AnchoredBatch:
    """A batch as anchored on-chain (the current one of its supersede chain)."""

    batch_id: int
    start: int
    end: int
    count: int
    total_wh: int
    root: bytes


@dataclass
class BatchCheck:
    """Outcome of the checks on one batch."""

    batch_id: int
    readings: int
    root_ok: bool
    count_ok: bool
    wh_ok: bool
    signatures_ok: int
    signatures_bad: int
    proofs_checked: int
    proofs_ok: int
    recomputed_wh: int


@dataclass
class VerificationReport:
    """The verifier's working paper for one record; ``passed`` iff there are no findings."""

    record_id: int
    device: str
    factor_set_id: int
    factor_value: int
    recomputed_wh: int
    recomputed_kg: int
    recorded_wh: int
    recorded_kg: int
    batches: list[BatchCheck] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return not self.findings

    def canonical_json(self) -> bytes:
        """Deterministic JSON of the report (sorted keys, no spaces)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    def report_hash(self) -> bytes:
        """SHA-256 of :meth:`canonical_json` — attested on-chain as the verification report hash."""
        return hashlib.sha256(self.canonical_json()).digest()

    def findings_hash(self) -> bytes:
        """SHA-256 of the findings list's canonical JSON (all zero when there are none)."""
        if not self.findings:
            return bytes(32)
        return hashlib.sha256(json.dumps(self.findings, separators=(",", ":")).encode()).digest()


def verify_record(
    *,
    record_id: int,
    device: bytes,
    device_signer: bytes,
    domain_separator: bytes,
    batches: Sequence[AnchoredBatch],
    readings_of: Callable[[AnchoredBatch], Sequence[tuple[Reading, bytes]]],
    verify_on_chain: Callable[[int, Reading, list[bytes]], bool],
    factor_value: int,
    factor_set_id: int,
    recorded_wh: int,
    recorded_kg: int,
    sample_per_batch: int = 3,
    rng: random.Random | None = None,
) -> VerificationReport:
    """Re-verify a monthly purchased-electricity record from its readings.

    Args:
        record_id: EmissionsRegistry record id.
        device: 32-byte device id; device_signer: its registered 20-byte signing address.
        domain_separator: EIP-712 domain separator of the MeterDataAnchor deployment.
        batches: the anchored batches the record sums (from the chain).
        readings_of: returns a batch's readings with their device signatures (from the data holder).
        verify_on_chain: ``MeterDataAnchor.verifyReading(batchId, reading, proof)`` via eth_call.
        factor_value: grid EF in kgCO2/kWh × 1e4 from the factor set the record names.
        recorded_wh / recorded_kg: the record's activity data (Wh) and emissions (kgCO2).
        sample_per_batch: inclusion proofs checked on-chain per batch.

    Returns:
        the report; ``findings`` lists every discrepancy found.
    """
    rng = rng or random.Random()
    rep = VerificationReport(record_id, "0x" + device.hex(), factor_set_id, factor_value, 0, 0, recorded_wh, recorded_kg)
    total = 0
    for b in batches:
        pairs = list(readings_of(b))
        leaves, ws, sig_ok, sig_bad = [], 0, 0, 0
        for r, sig in pairs:
            leaves.append(reading_leaf(r))
            ws += (r.end - r.start) * r.value * 10 ** r.scale
            try:
                ok = recover_address_bytes(reading_digest(domain_separator, r), sig) == device_signer
            except InvalidSignature:
                ok = False
            if ok and r.device == device and b.start <= r.start and r.end <= b.end:
                sig_ok += 1
            else:
                sig_bad += 1
        wh = energy_wh(ws)
        tree = StandardMerkleTree.from_leaf_hashes(leaves) if leaves else None
        root_ok = tree is not None and tree.root == b.root
        proofs_ok = checked = 0
        if tree is not None:
            for i in rng.sample(range(len(pairs)), min(sample_per_batch, len(pairs))):
                checked += 1
                proofs_ok += bool(verify_on_chain(b.batch_id, pairs[i][0], tree.proof(leaves[i])))
        chk = BatchCheck(b.batch_id, len(pairs), root_ok, len(pairs) == b.count, wh == b.total_wh,
                         sig_ok, sig_bad, checked, proofs_ok, wh)
        rep.batches.append(chk)
        if not chk.root_ok:
            rep.findings.append(f"batch {b.batch_id}: Merkle root rebuilt from the readings differs from the anchored root")
        if not chk.count_ok:
            rep.findings.append(f"batch {b.batch_id}: {len(pairs)} readings served, {b.count} anchored")
        if not chk.wh_ok:
            rep.findings.append(f"batch {b.batch_id}: readings give {wh} Wh, anchored total is {b.total_wh} Wh")
        if sig_bad:
            rep.findings.append(f"batch {b.batch_id}: {sig_bad} readings not signed by the registered device key or outside the batch")
        if proofs_ok != checked:
            rep.findings.append(f"batch {b.batch_id}: {checked - proofs_ok} of {checked} sampled proofs refused on-chain")
        total += b.total_wh
    rep.recomputed_wh = total
    rep.recomputed_kg = emissions_kg(total, factor_value)
    if total != recorded_wh:
        rep.findings.append(f"activity data: batches sum to {total} Wh, record says {recorded_wh} Wh")
    if rep.recomputed_kg != recorded_kg:
        rep.findings.append(f"emissions: recomputed {rep.recomputed_kg} kgCO2, record says {recorded_kg} kgCO2")
    return rep


def as_dict(report: VerificationReport) -> dict[str, Any]:
    """Plain dict of a report (for JSON APIs), with ``passed`` and the hashes added."""
    d = asdict(report)
    d["passed"] = report.passed
    d["report_hash"] = "0x" + report.report_hash().hex()
    d["findings_hash"] = "0x" + report.findings_hash().hex()
    return d
