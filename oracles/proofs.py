"""Readings of anchored batches with their Merkle inclusion proofs, from an oracle node's store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ledger.contracts.anchored import AnchoredBatch
from ledger.meter_data.merkle import StandardMerkleTree
from oracles.node import OracleNode


def readings_with_proofs(node: OracleNode, device: bytes, batches: Sequence[AnchoredBatch], after_sequence: int = -1) -> Iterator[dict[str, Any]]:
    """Every stored reading of ``device`` in ``batches`` with sequence > ``after_sequence``, in
    sequence order, each with its device signature, its batch id, and its proof against the
    batch's anchored root (``root_matches`` says whether the store rebuilds that root)."""
    for b in batches:
        rows = node.readings_between(device, b.start, b.end)
        if not rows or rows[-1].sequence <= after_sequence:
            continue
        tree = StandardMerkleTree.from_leaf_hashes([r.leaf for r in rows])
        for r in rows:
            if r.sequence <= after_sequence:
                continue
            yield {"id": r.sequence, "batch_id": b.batch_id, "root": "0x" + b.root.hex(), "root_matches": tree.root == b.root,
                   "reading": {"device": "0x" + r.device.hex(), "sequence": r.sequence, "start": r.start, "end": r.end,
                               "quantityCode": r.quantity_code, "value": r.value, "scale": r.scale, "flags": r.flags},
                   "signature": "0x" + r.signature.hex(), "leaf": "0x" + r.leaf.hex(),
                   "proof": ["0x" + p.hex() for p in tree.proof(r.leaf)]}
