"""An anchored batch: the one shape of a MeterDataAnchor batch that readers of the chain share
(the provenance check, ``audit verify``, record queries, the API and the oracle proofs route).

It is MeterDataAnchor's ``Batch`` struct (decoded by name by the generated binding) with the
batch id it is stored under; :func:`device_batches` reads a device's batches, each followed to
the current one of its supersede chain (a correction replaces a batch, never erases it).
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.contracts._generated.meter_data_anchor import Batch, MeterDataAnchor
from ledger.meter_data.reading import BatchReport, supersedes_word


@dataclass(frozen=True)
class AnchoredBatch:
    """A batch as stored on-chain (``MeterDataAnchor.batch(batch_id)``); units: UTC s, Wh.

    Attributes:
        batch_id: its id; device: 32-byte device id; start, end: the period [start, end);
        count: readings; total_wh: ⌊Σ(W × s)/3600 + ½⌋ (DESIGN.md §5); root: Merkle root of the
        reading leaves (each leaf carries the hash of the device signature); supersedes /
        superseded_by: the batch ids of its correction chain (0: none). The oracle set that signed
        it is not stored (gas): the ``BatchAnchored`` event's report digest names it.
    """

    batch_id: int
    device: bytes
    start: int
    end: int
    count: int
    total_wh: int
    root: bytes
    supersedes: int
    superseded_by: int

    @classmethod
    def of(cls, batch_id: int, b: Batch) -> AnchoredBatch:
        """The anchored batch ``batch_id`` from the binding's ``Batch``."""
        return cls(batch_id, b.device, b.start, b.end, b.count, b.totalWh, b.root, b.supersedes,
                   b.supersededBy)

    def report(self, config_digest: bytes) -> BatchReport:
        """The batch report the oracles signed for this batch under ``config_digest`` (the digest of
        the oracle set that signed it): the stored fields, ``supersedes`` as ``bytes32(uint256(id))``."""
        return BatchReport(config_digest, self.device, self.start, self.end, self.count, self.total_wh, self.root,
                           supersedes_word(self.supersedes or None))


def split_signatures(packed: bytes) -> list[bytes]:
    """The oracle signatures of a ``BatchAnchored`` event: its ``signatures`` field is the 65-byte
    signatures (r ‖ s ‖ v) concatenated (gas: one ``bytes`` instead of ``bytes[]``).

    Raises:
        ValueError: the length is not a multiple of 65.
    """
    if len(packed) % 65:
        raise ValueError(f"packed signatures must be a multiple of 65 bytes, got {len(packed)}")
    return [bytes(packed[i:i + 65]) for i in range(0, len(packed), 65)]


@dataclass(frozen=True)
class DeviceBatch:
    """A device's batch list entry: its index, the id anchored at that index and the current
    (supersede-followed) batch."""

    index: int
    original_id: int
    batch: AnchoredBatch


def anchored_batch(anchor: MeterDataAnchor, batch_id: int) -> AnchoredBatch:
    """Batch ``batch_id`` as stored (not followed to its correction).

    Raises:
        ContractRevert: no batch has this id (the contract's ``UnknownBatch``).
    """
    return AnchoredBatch.of(batch_id, anchor.batch(batch_id))


def device_batches(anchor: MeterDataAnchor, device: bytes, first: int = 0, last: int | None = None) -> list[DeviceBatch]:
    """The device's batches with index in ``[first, last]`` (all by default) in anchoring order,
    each followed to its current correction; read with batched eth_calls.

    Raises:
        ContractRevert: an index is out of range.
    """
    c, f = anchor.client, anchor.functions
    if last is None:
        last = anchor.deviceBatchCount(device) - 1
    idx = list(range(first, last + 1))
    originals: list[int] = c.call_many([f.deviceBatchAt(device, i) for i in idx])
    current: list[int] = c.call_many([f.currentBatch(b) for b in originals])
    rows: list[Batch] = c.call_many([f.batch(b) for b in current])
    return [DeviceBatch(i, o, AnchoredBatch.of(b, r)) for i, o, b, r in zip(idx, originals, current, rows)]
