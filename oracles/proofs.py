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
    batch's anchored root (``root_matches`` says whether the store rebuilds that root).

    Batches wholly at or below ``after_sequence`` are skipped with one indexed query each; a
    batch's readings are read as plain rows (:meth:`OracleNode.reading_rows_between`) and its tree
    built once per call."""
    dev_hex = "0x" + device.hex()
    for b in batches:
        leaves, rows = node.reading_rows_between(device, b.start, b.end, after_sequence)
        if not rows:
            continue
        tree = StandardMerkleTree.from_leaf_hashes(leaves)
        root_hex, matches = "0x" + b.root.hex(), tree.root == b.root
        for i, seq, start, end, qc, value, scale, flags, signature, leaf in rows:
            yield {"id": seq, "batch_id": b.batch_id, "root": root_hex, "root_matches": matches,
                   "reading": {"device": dev_hex, "sequence": seq, "start": start, "end": end,
                               "quantityCode": qc, "value": value, "scale": scale, "flags": flags},
                   "signature": "0x" + signature.hex(), "leaf": "0x" + leaf.hex(),
                   "proof": ["0x" + p.hex() for p in tree.proof(i)]}
