"""Shapes shared by the verifier (:mod:`ledger.verify.provenance`, the one verifier implementation:
``carbonledger verify``, the demo's verifier step, ``GET /v1/verifier/records/{id}/verification``
and the portal's provenance page) and the batch readers: the per-batch result of re-verifying a
batch from the readings a data holder serves (an anchored batch as stored on-chain is
:class:`ledger.contracts.anchored.AnchoredBatch`)."""

from __future__ import annotations

from dataclasses import dataclass


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
