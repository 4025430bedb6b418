"""Oracle node: check signed readings, store them before acknowledging, build and sign batch reports.

DESIGN.md §7. For every reading the node checks: the device is registered, active and in
calibration; the quantity matches the device; the interval is sane and not in the future; the
value is physically plausible (:mod:`ledger.meter_data.quantities`); the device's EIP-712 signature
(recovered with coincurve — the fast path — and compared with the registered signing
address); the sequence number is strictly increasing; the interval does not overlap the
previous reading's.

Refused readings go to the quarantine table with the reason; accepted ones are stored; both in
one SQL transaction per incoming batch, and acknowledgements are returned only after it
commits. The same (device, sequence) with an identical payload is acknowledged again as
``duplicate`` (not counted twice); a different payload is quarantined as ``conflict``.

Out-of-order and late readings: a reading whose sequence is below the device's last one is
accepted when it fills a gap consistently (the stored neighbours by sequence end at or before
its start and start at or after its end — sequence order stays time order); otherwise it is
``sequence_not_increasing``. A reading inside a period this node already signed is accepted
with ``reason="late"``: it does not change the signed report; it goes into a correction batch
(:meth:`OracleNode.build_correction`) that supersedes the anchored batch with a reason, the old
root staying on-chain (MeterDataAnchor.supersede).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from ledger.crypto.primitives import Signer
from ledger.meter_data.energy import energy_wh
from ledger.meter_data.merkle import StandardMerkleTree
from ledger.meter_data.reading import BatchReport, Reading, batch_report_digest, supersedes_word
from ledger.meter_data.workers import CheckWorkers, shared_workers
from ledger.store.migrate import upgrade
from oracles.checks import FUTURE_SKEW_S, DeviceTerms, check_readings
from oracles.store import CorrectionReport, QuarantinedReading, SignedBatchReport, SignerConflict, StoredReading

#: Re-exported: the clock-skew allowance of the ``in_future`` check (:mod:`oracles.checks`).
__all__ = ["FUTURE_SKEW_S", "REASONS", "Ack", "DeviceDirectory", "DeviceInfo", "NodeReport", "OracleNode", "SignedReading"]

_READING_COLUMNS = ("device", "sequence", "start", "end", "quantity_code", "value", "scale", "flags", "signature",
                    "leaf", "received_at")
_INSERT_READING_SQLITE = ('INSERT INTO readings (device, sequence, start, "end", quantity_code, value, scale, flags, '
                          "signature, leaf, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


#: Reasons a reading is refused (quarantine ``reason`` column).
REASONS = (
    "malformed", "unregistered_device", "device_revoked", "calibration_expired", "wrong_quantity",
    "bad_interval", "in_future", "implausible_value", "bad_signature", "conflict",
    "sequence_not_increasing", "interval_overlaps", "period_closed",
)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the node needs to know of a registered device (from DeviceRegistry)."""

    device: bytes
    owner_org: bytes
    signer: bytes               # 20-byte signing address
    quantity_code: int
    calibrations: tuple[tuple[int, int], ...]   # (validFrom, validUntil) UTC s inclusive, in time order
    active: bool


class DeviceDirectory(Protocol):
    """Source of device registrations (the chain, in production)."""

    def get(self, device: bytes) -> DeviceInfo | None: ...


@dataclass(frozen=True, slots=True)
class SignedReading:
    """A reading with the device's 65-byte EIP-712 signature (r‖s‖v)."""

    reading: Reading
    signature: bytes

    def to_json(self) -> dict[str, object]:
        """Wire form (as in ``POST /v1/readings``)."""
        r = self.reading
        return {"device": "0x" + r.device.hex(), "sequence": r.sequence, "start": r.start, "end": r.end,
                "quantityCode": r.quantity_code, "value": r.value, "scale": r.scale, "flags": r.flags,
                "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> SignedReading:
        """Parse the wire form. Raises ValueError/KeyError/TypeError on malformed input."""
        def hx(v: object, n: int, name: str) -> bytes:
            if not isinstance(v, str) or not v.startswith("0x"):
                raise ValueError(f"{name} must be 0x-prefixed hex")
            b = bytes.fromhex(v[2:])
            if len(b) != n:
                raise ValueError(f"{name} must be {n} bytes, got {len(b)}")
            return b
        def integer(v: object, name: str) -> int:
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"{name} must be an integer")
            return v
        r = Reading(hx(d["device"], 32, "device"), integer(d["sequence"], "sequence"), integer(d["start"], "start"),
                    integer(d["end"], "end"), integer(d["quantityCode"], "quantityCode"), integer(d["value"], "value"),
                    integer(d["scale"], "scale"), integer(d["flags"], "flags"))
        return cls(r, hx(d["signature"], 65, "signature"))


@dataclass(frozen=True, slots=True)
class Ack:
    """Per-reading answer: ``accepted``, ``duplicate`` (already stored, identical) or ``rejected``.

    For ``accepted``, ``reason`` is None, ``"out_of_order"`` (filled a gap) or ``"late"`` (in a
    period already signed: it goes into a correction batch)."""

    sequence: int
    status: str
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class NodeReport:
    """A batch report this node signed."""

    report: BatchReport
    digest: bytes
    signature: bytes
    signer: str
    anchored_batch_id: int | None


def _i64(v: object) -> int | None:
    """``v`` if it fits a signed 64-bit SQL column, else None (the quarantine payload keeps it)."""
    return v if isinstance(v, int) and -(2**63) <= v < 2**63 else None


def _same_payload(row: StoredReading | tuple[int, int, int, int, int, int], r: Reading) -> bool:
    if isinstance(row, tuple):
        return row == (r.start, r.end, r.quantity_code, r.value, r.scale, r.flags)
    return (row.start, row.end, row.quantity_code, row.value, row.scale, row.flags) == (
        r.start, r.end, r.quantity_code, r.value, r.scale, r.flags)


class OracleNode:
    """One oracle node with its own key and its own SQL store.

    Args:
        name: label used in reports and logs.
        signer: the node's secp256k1 key (signs batch reports).
        engine: the node's store (migrated to head: ledger.store.migrate.upgrade).
        domain_separator: EIP-712 domain separator of the MeterDataAnchor deployment.
        devices: device registrations.
        config_digest: callable returning the anchor's current config digest.
        clock: UTC seconds now (tests inject one).
        workers: the worker processes that run the stateless checks of large batches
            (:class:`ledger.meter_data.workers.CheckWorkers`); None: the process-wide pool
            (:func:`ledger.meter_data.workers.shared_workers`, one worker per core).
    """

    def __init__(self, name: str, signer: Signer, engine: Engine, domain_separator: bytes,
                 devices: DeviceDirectory, config_digest: Callable[[], bytes],
                 clock: Callable[[], float] = time.time, workers: CheckWorkers | None = None) -> None:
        self.name, self.signer, self.engine = name, signer, engine
        self.workers = workers if workers is not None else shared_workers()
        self.domain_separator = domain_separator
        self.devices = devices
        self.config_digest = config_digest
        self.clock = clock
        upgrade(engine, "oracle")
        self._lock = threading.Lock()
        self._last: dict[bytes, tuple[int, int]] = {}    # device -> (last sequence, last end)
        self._closed: dict[bytes, int] = {}              # device -> end of last signed period

    @property
    def address(self) -> str:
        """The node's signing address."""
        return self.signer.address

    def close(self) -> None:
        """Stop the check worker processes (after the running checks; they restart on next use).
        The store stays open: readings already acknowledged are committed."""
        self.workers.close()

    # ------------------------------------------------------------------ state
    def _device_state(self, s: Session, device: bytes) -> tuple[int, int, int]:
        if device not in self._last:
            row = s.execute(select(StoredReading.sequence, StoredReading.end).where(StoredReading.device == device)
                            .order_by(StoredReading.sequence.desc()).limit(1)).first()
            self._last[device] = (row[0], row[1]) if row else (-1, 0)
            closed = s.scalar(select(func.max(SignedBatchReport.end)).where(SignedBatchReport.device == device))
            self._closed[device] = closed or 0
        seq, end = self._last[device]
        return seq, end, self._closed[device]

    # ------------------------------------------------------------------ ingest
    def ingest(self, batch: Sequence[SignedReading], expect_device: bytes | None = None) -> list[Ack]:
        """Check, store and acknowledge a batch of signed readings (one SQL transaction).

        Args:
            batch: signed readings, any devices, any order.
            expect_device: if given (the device of an MQTT topic), readings of another device
                are quarantined as ``malformed``.

        Returns one :class:`Ack` per reading, in order. Nothing previously accepted is changed.

        The per-reading checks that need no stored state (:func:`oracles.checks.check_readings`:
        ranges, device registration, plausibility, EIP-712 digest, signature recovery, Merkle
        leaf) run first, outside the store lock — for large batches in the worker processes
        (:attr:`workers`, every core; the interpreter lock kept threads to ~1.4 cores); the
        sequence/interval checks and the SQL transaction then run in order under the lock, and
        the acknowledgements are returned after the commit.
        """
        now = int(self.clock())
        checked = self._verify(batch, now, expect_device)
        acks: list[Ack] = []
        rows: list[tuple[object, ...]] = []
        quarantine: list[dict[str, object]] = []
        with self._lock, Session(self.engine) as s:
            local: dict[bytes, tuple[int, int, int]] = {}
            seen: dict[tuple[bytes, int], tuple[int, int, int, int, int, int]] = {}
            for sr, verdict in zip(batch, checked):
                r = sr.reading
                if type(verdict) is bytes:
                    leaf: bytes | None = verdict
                    reason: str | None = None
                    detail: str | None = None
                else:
                    leaf = None
                    reason, detail = verdict
                if reason is None:
                    reason, detail = self._check_state(s, r, local, seen)
                if reason is None or reason == "late" or reason == "out_of_order":
                    last_seq, last_end, closed = local[r.device]
                    if r.sequence > last_seq:          # a gap fill does not move the device's head
                        local[r.device] = (r.sequence, r.end, closed)
                    seen[(r.device, r.sequence)] = (r.start, r.end, r.quantity_code, r.value, r.scale, r.flags)
                    rows.append((r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags,
                                 sr.signature, leaf, now))
                    acks.append(Ack(r.sequence, "accepted", reason, detail))
                elif reason == "duplicate":
                    acks.append(Ack(r.sequence, "duplicate"))
                else:
                    quarantine.append({"device": r.device, "sequence": _i64(r.sequence), "start": _i64(r.start), "end": _i64(r.end),
                                       "reason": reason, "detail": detail or "", "received_at": now,
                                       "payload": json.dumps(sr.to_json(), sort_keys=True)})
                    acks.append(Ack(r.sequence, "rejected", reason, detail))
            if rows:
                if self.engine.dialect.name == "sqlite":      # plain executemany: no per-value bind processing
                    s.connection().exec_driver_sql(_INSERT_READING_SQLITE, rows)
                else:
                    s.execute(insert(StoredReading), [dict(zip(_READING_COLUMNS, row)) for row in rows])
            if quarantine:
                s.execute(insert(QuarantinedReading), quarantine)
            s.commit()
            for device, (seq, end, _closed) in local.items():   # only after the commit
                self._last[device] = (seq, end)
        return acks

    def quarantine_raw(self, device: bytes, reason: str, detail: str, payload: str) -> None:
        """Keep a message that could not even be parsed into readings (nothing silently dropped)."""
        with self._lock, Session(self.engine) as s, s.begin():
            s.add(QuarantinedReading(device=device, sequence=None, start=None, end=None, reason=reason, detail=detail[:2000],
                                     payload=payload, received_at=int(self.clock())))

    def _verify(self, batch: Sequence[SignedReading], now: int,
                expect_device: bytes | None) -> list[bytes | tuple[str, str]]:
        """:func:`oracles.checks.check_readings` of every reading, in order: a leaf or (reason,
        detail) each. The device registrations are looked up here (once per device) and handed
        to the checks as plain tuples; large batches are checked in the worker processes."""
        devices: dict[bytes, DeviceTerms | None] = {}
        for device in {sr.reading.device for sr in batch}:
            if type(device) is bytes and len(device) == 32:
                info = self.devices.get(device)
                devices[device] = (None if info is None else
                                   (info.signer, info.quantity_code, info.calibrations, info.active))
        rows = [(r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags, sr.signature)
                for sr in batch for r in (sr.reading,)]
        return self.workers.map_chunks(check_readings, rows, self.domain_separator, now, expect_device, devices)

    def _check_state(self, s: Session, r: Reading, local: dict[bytes, tuple[int, int, int]],
                     seen: dict[tuple[bytes, int], tuple[int, int, int, int, int, int]]) -> tuple[str | None, str | None]:
        """Checks of a reading that passed :func:`oracles.checks.check_readings` against the device's stored
        and same-batch state (sequence, gaps, duplicates, overlaps, signed periods)."""
        if r.device not in local:
            local[r.device] = self._device_state(s, r.device)
        last_seq, last_end, closed = local[r.device]
        if r.sequence <= last_seq:
            prior: StoredReading | tuple[int, int, int, int, int, int] | None = seen.get((r.device, r.sequence))
            if prior is None:
                prior = s.get(StoredReading, (r.device, r.sequence))
            if prior is None:
                if not self._fits_gap(s, r, seen):
                    return "sequence_not_increasing", f"sequence {r.sequence} <= last accepted {last_seq} and does not fit a gap"
                if r.start < closed:
                    return "late", f"period up to {closed} already signed: the reading goes into a correction batch"
                return "out_of_order", f"fills a gap below sequence {last_seq}"
            if _same_payload(prior, r):
                return "duplicate", None
            return "conflict", f"sequence {r.sequence} already stored with a different payload"
        if r.start < last_end:
            return "interval_overlaps", f"starts at {r.start}, previous reading ends at {last_end}"
        if r.start < closed:
            return "late", f"period up to {closed} already signed: the reading goes into a correction batch"
        return None, None

    @staticmethod
    def _fits_gap(s: Session, r: Reading, seen: dict[tuple[bytes, int], tuple[int, int, int, int, int, int]]) -> bool:
        """Whether ``r`` (a sequence below the device's head, not stored) sits between its stored
        (or same-batch) neighbours by sequence without overlapping them in time."""
        prev = s.execute(select(StoredReading.sequence, StoredReading.end).where(
            StoredReading.device == r.device, StoredReading.sequence < r.sequence)
            .order_by(StoredReading.sequence.desc()).limit(1)).first()
        nxt = s.execute(select(StoredReading.sequence, StoredReading.start).where(
            StoredReading.device == r.device, StoredReading.sequence > r.sequence)
            .order_by(StoredReading.sequence).limit(1)).first()
        p_seq, p_end = (prev[0], prev[1]) if prev else (-1, None)
        n_seq, n_start = (nxt[0], nxt[1]) if nxt else (None, None)
        for (dev, seq), v in seen.items():
            if dev != r.device:
                continue
            if p_seq < seq < r.sequence:
                p_seq, p_end = seq, v[1]
            elif seq > r.sequence and (n_seq is None or seq < n_seq):
                n_seq, n_start = seq, v[0]
        return (p_end is None or p_end <= r.start) and (n_start is None or r.end <= n_start)

    # ------------------------------------------------------------------ batches
    def readings_between(self, device: bytes, start: int, end: int) -> list[StoredReading]:
        """Accepted readings of ``device`` inside ``[start, end)``, by sequence."""
        with Session(self.engine) as s:
            return list(s.scalars(select(StoredReading).where(
                StoredReading.device == device, StoredReading.start >= start, StoredReading.start < end)
                .order_by(StoredReading.sequence)))

    def build_report(self, device: bytes, start: int, end: int) -> NodeReport | None:
        """Build and sign the batch report of ``device`` over ``[start, end)``.

        Idempotent: a report already signed for this period and configuration is returned as
        stored. Returns None when the node holds no reading in the period (nothing to anchor).
        Closes the period: later readings inside it are refused as ``period_closed``.
        """
        digest_cfg = self.config_digest()
        with self._lock, Session(self.engine) as s:
            old = s.get(SignedBatchReport, (device, start, digest_cfg))
            if old is not None:
                return self._view(old)
            held = _period_tree(s, device, start, end)
            if held is None:
                return None
            tree, count, wh = held
            report = BatchReport(digest_cfg, device, start, end, count, wh, tree.root, bytes(32))
            digest = batch_report_digest(self.domain_separator, report)
            row = SignedBatchReport(device=device, start=start, config_digest=digest_cfg, end=end, count=count,
                                    total_wh=wh, root=tree.root, supersedes=bytes(32), report_digest=digest,
                                    signature=self.signer.sign_digest(digest), anchored_batch_id=None)
            s.add(row)
            s.commit()
            self._closed[device] = max(self._closed.get(device, 0), end)
            return self._view(row)

    def _view(self, row: SignedBatchReport | CorrectionReport) -> NodeReport:
        report = BatchReport(row.config_digest, row.device, row.start, row.end, row.count, row.total_wh, row.root, row.supersedes)
        return NodeReport(report, row.report_digest, row.signature, self.address, row.anchored_batch_id)

    def mark_anchored(self, device: bytes, start: int, config_digest: bytes, batch_id: int,
                      supersedes: bytes = bytes(32)) -> None:
        """Record that the report for ``(device, start)`` was anchored as ``batch_id`` (for a
        correction: the report superseding ``supersedes``, a bytes32 batch id)."""
        with Session(self.engine) as s, s.begin():
            row: SignedBatchReport | CorrectionReport | None
            if supersedes == bytes(32):
                row = s.get(SignedBatchReport, (device, start, config_digest))
            else:
                row = s.get(CorrectionReport, (device, start, config_digest, supersedes))
            if row is not None:
                row.anchored_batch_id = batch_id

    # ------------------------------------------------------------------ corrections
    def build_correction(self, device: bytes, start: int, end: int, batch_id: int, anchored_root: bytes) -> NodeReport | None:
        """Sign a correcting report of ``device`` over ``[start, end)`` that supersedes
        ``batch_id`` (the latest batch of the period; its root is ``anchored_root``).

        The report covers every reading this node holds in the period, late ones included.
        Returns None when they make exactly the anchored root (nothing to correct) or when the
        node holds no reading. Idempotent per (period, config digest, superseded batch).
        """
        digest_cfg = self.config_digest()
        sup = supersedes_word(batch_id)
        with self._lock, Session(self.engine) as s:
            old = s.get(CorrectionReport, (device, start, digest_cfg, sup))
            if old is not None:
                return self._view(old)
            held = _period_tree(s, device, start, end)
            if held is None or held[0].root == anchored_root:
                return None
            tree, count, wh = held
            report = BatchReport(digest_cfg, device, start, end, count, wh, tree.root, sup)
            digest = batch_report_digest(self.domain_separator, report)
            row = CorrectionReport(device=device, start=start, config_digest=digest_cfg, supersedes=sup, end=end,
                                   count=count, total_wh=wh, root=tree.root, report_digest=digest,
                                   signature=self.signer.sign_digest(digest), anchored_batch_id=None)
            s.add(row)
            s.commit()
            self._closed[device] = max(self._closed.get(device, 0), end)
            return self._view(row)

    # ------------------------------------------------------------------ conflicting signers
    def record_conflict(self, node: str, signer: str, report: BatchReport, signed_digest: bytes, signature: bytes,
                        quorum_report: BatchReport, quorum_digest: bytes) -> bool:
        """Keep evidence that oracle ``node`` (address ``signer``) signed ``report`` for a period
        whose quorum report is ``quorum_report``. Returns False if this evidence was already kept."""
        with Session(self.engine) as s:
            dup = s.scalar(select(func.count()).select_from(SignerConflict).where(
                SignerConflict.signer == signer, SignerConflict.signed_digest == signed_digest))
            if dup:
                return False
            s.add(SignerConflict(node=node, signer=signer, device=report.device, start=report.start, end=report.end,
                                 config_digest=report.config_digest, supersedes=report.supersedes,
                                 signed_root=report.root, signed_digest=signed_digest, signature=signature,
                                 quorum_root=quorum_report.root, quorum_digest=quorum_digest, detected_at=int(self.clock())))
            s.commit()
            return True

    def conflicts(self) -> list[dict[str, object]]:
        """Signer conflicts this node has recorded (JSON-ready: hex strings, UTC seconds)."""
        with Session(self.engine) as s:
            return [{"node": c.node, "signer": c.signer, "device": "0x" + c.device.hex(), "start": c.start, "end": c.end,
                     "configDigest": "0x" + c.config_digest.hex(), "supersedes": "0x" + c.supersedes.hex(),
                     "signedRoot": "0x" + c.signed_root.hex(), "signedDigest": "0x" + c.signed_digest.hex(),
                     "signature": "0x" + c.signature.hex(), "quorumRoot": "0x" + c.quorum_root.hex(),
                     "quorumDigest": "0x" + c.quorum_digest.hex(), "detectedAt": c.detected_at}
                    for c in s.scalars(select(SignerConflict).order_by(SignerConflict.id))]

    def counts(self, device: bytes, start: int, end: int) -> tuple[int, int]:
        """(accepted, quarantined) readings of ``device`` starting in ``[start, end)``."""
        with Session(self.engine) as s:
            acc = s.scalar(select(func.count()).select_from(StoredReading).where(
                StoredReading.device == device, StoredReading.start >= start, StoredReading.start < end)) or 0
            qua = s.scalar(select(func.count()).select_from(QuarantinedReading).where(
                QuarantinedReading.device == device, QuarantinedReading.start >= start, QuarantinedReading.start < end)) or 0
        return acc, qua

    def proof(self, device: bytes, sequence: int) -> tuple[StoredReading, list[bytes], SignedBatchReport] | None:
        """A stored reading, its Merkle proof and the signed report of the batch holding it."""
        with Session(self.engine) as s:
            r = s.get(StoredReading, (device, sequence))
            if r is None:
                return None
            rep = s.scalars(select(SignedBatchReport).where(
                SignedBatchReport.device == device, SignedBatchReport.start <= r.start, SignedBatchReport.end >= r.end)
                .order_by(SignedBatchReport.anchored_batch_id.desc().nulls_last())).first()
            if rep is None:
                return None
            leaves = s.scalars(select(StoredReading.leaf).where(
                StoredReading.device == device, StoredReading.start >= rep.start, StoredReading.start < rep.end)).all()
            tree = StandardMerkleTree.from_leaf_hashes(list(leaves))
            s.expunge_all()
            return r, tree.proof(r.leaf), rep


def _period_tree(s: Session, device: bytes, start: int, end: int) -> tuple[StandardMerkleTree, int, int] | None:
    """The Merkle tree, count and energy (Wh, DESIGN.md §5) of the readings of ``device`` this store
    holds in ``[start, end)``, or None if it holds none.

    Raises:
        ValueError: a reading crosses ``end`` (period boundaries must fall on reading boundaries).
    """
    rows = s.execute(select(StoredReading.leaf, StoredReading.start, StoredReading.end, StoredReading.value,
                            StoredReading.scale).where(
        StoredReading.device == device, StoredReading.start >= start, StoredReading.start < end)
        .order_by(StoredReading.sequence)).all()
    if not rows:
        return None
    if any(r[2] > end for r in rows):
        raise ValueError(f"a reading crosses the batch end {end}; choose period boundaries on reading boundaries")
    tree = StandardMerkleTree.from_leaf_hashes([r[0] for r in rows])
    return tree, len(rows), energy_wh(sum((e - st) * v * 10 ** sc for _, st, e, v, sc in rows))
