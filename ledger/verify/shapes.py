"""Shapes of the provenance check (:mod:`ledger.verify.provenance`: ``carbonledger verify``, the
demo's verifier step, ``GET /v1/verifier/records/{id}/verification`` and the portal's provenance
page): the per-batch result of re-verifying a batch from the readings a data holder serves. (An
anchored batch as stored on-chain is :class:`ledger.records.queries.AnchoredBatch`.)"""

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
