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
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from ledger.crypto.primitives import Signer
from ledger.meter_data.energy import energy_wh
from ledger.meter_data.merkle import StandardMerkleTree
from ledger.meter_data.reading import BatchReport, Reading, batch_report_digest, supersedes_word
from ledger.meter_data.workers import CheckWorkers, shared_workers
from ledger.store.migrate import upgrade
from oracles.checks import FUTURE_SKEW_S, DeviceTerms, ReadingRow, check_readings, check_wire_piece, split_wire_items
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


def _same_payload(prior: StoredReading | tuple[int, ...], row: ReadingRow) -> bool:
    """Whether a stored (or same-batch) reading has ``row``'s payload (start … flags)."""
    if isinstance(prior, tuple):
        return prior == row[2:8]
    return (prior.start, prior.end, prior.quantity_code, prior.value, prior.scale, prior.flags) == row[2:8]


def _row_json(row: ReadingRow) -> dict[str, object]:
    """The wire form of a reading row (as :meth:`SignedReading.to_json`; the quarantine payload)."""
    device, signature = row[0], row[8]
    raw = (bytes, bytearray, memoryview)
    return {"device": "0x" + bytes(device).hex() if isinstance(device, raw) else repr(device), "sequence": row[1],
            "start": row[2], "end": row[3], "quantityCode": row[4], "value": row[5], "scale": row[6], "flags": row[7],
            "signature": "0x" + bytes(signature).hex() if isinstance(signature, raw) else repr(signature)}


#: A device id on the wire (``"device":"0x…"``): the node looks these devices up before its
#: workers check a raw body (a device written otherwise makes :func:`check_wire_piece` decline).
_WIRE_DEVICE = re.compile(rb'"device":"0x([0-9a-fA-F]{64})"')


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
        #: Called after each commit with the accepted rows (``ReadingRow`` + digest, received_at), outside
        #: the store lock; must return at once (the early-warning feed only queues them: oracles/alert_feed.py).
        self.on_accepted: Callable[[list[tuple[object, ...]]], None] | None = None

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
        Same as :meth:`ingest_rows` on the readings as plain tuples.
        """
        return self.ingest_rows([(r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags,
                                  sr.signature) for sr in batch for r in (sr.reading,)], expect_device)

    def ingest_rows(self, rows: Sequence[ReadingRow], expect_device: bytes | None = None) -> list[Ack]:
        """:meth:`ingest` of readings given as :data:`oracles.checks.ReadingRow` tuples
        ``(device, sequence, start, end, quantityCode, value, scale, flags, signature)``.

        The per-reading checks that need no stored state (:func:`oracles.checks.check_readings`:
        ranges, device registration, plausibility, EIP-712 digest, signature recovery, Merkle
        leaf) run first, outside the store lock — for large batches in the worker processes
        (:attr:`workers`, every core; the interpreter lock kept threads to ~1.4 cores); the
        sequence/interval checks and the SQL transaction then run in order under the lock, and
        the acknowledgements are returned after the commit.
        """
        now = int(self.clock())
        return self._commit(rows, self._verify(rows, now, expect_device), now)

    def ingest_body(self, body: bytes, max_readings: int, expect_device: bytes | None = None) -> list[Ack] | None:
        """:meth:`ingest` of a raw ``POST /v1/readings`` body in the plain compact form
        (``{"readings":[{...},...]}``, :func:`oracles.checks.split_wire_items`), with JSON decoding
        and parsing in the worker processes as well as the checks (issue 14: the node's own
        process keeps only the ordered part — sequence checks, SQL, acknowledgements).

        Args:
            body: the request body as received.
            max_readings: the schema's bound on readings per body (``api.readings.MAX_READINGS``).
            expect_device: as :meth:`ingest`.

        Returns the acknowledgements (after the commit), or None — nothing checked, nothing
        stored — when the body is not in that plain form or has more than ``max_readings``
        readings: the caller then validates it the ordinary way (pydantic; 422 naming the field)
        and calls :meth:`ingest`. The same readings give the same acknowledgements either way.
        """
        n = body.count(b'"signature"')
        if not 1 <= n <= max_readings:
            return None
        w = self.workers
        parts = 1 if w.processes == 0 or n < 2 * w.min_chunk else min(w.processes, n // w.min_chunk)
        pieces = split_wire_items(body, parts)
        if pieces is None:
            return None
        devices: dict[bytes, DeviceTerms | None] = {}
        for hexdev in set(_WIRE_DEVICE.findall(body)):
            device = bytes.fromhex(hexdev.decode("ascii"))
            devices[device] = self._terms(device)
        now = int(self.clock())
        checked = w.map_each(check_wire_piece, pieces, self.domain_separator, now, expect_device, devices)
        rows: list[ReadingRow] = []
        verdicts: list[bytes | tuple[str, str]] = []
        for part in checked:
            if part is None:
                return None
            rows += part[0]
            verdicts += part[1]
        if len(rows) > max_readings:
            return None
        return self._commit(rows, verdicts, now)

    def _commit(self, rows: Sequence[ReadingRow], checked: Sequence[bytes | tuple[str, str]], now: int) -> list[Ack]:
        """The ordered part of an ingest: state checks of the readings that passed the stateless
        ones, one SQL transaction, the acknowledgements after the commit."""
        acks: list[Ack] = []
        append_ack = acks.append
        stored: list[tuple[object, ...]] = []
        quarantine: list[dict[str, object]] = []
        with self._lock, Session(self.engine) as s:
            local: dict[bytes, tuple[int, int, int]] = {}
            seen: dict[tuple[bytes, int], tuple[int, ...]] = {}
            for row, verdict in zip(rows, checked):
                if type(verdict) is bytes:
                    device, sequence = row[0], row[1]
                    state = local.get(device)
                    if state is None:
                        state = local[device] = self._device_state(s, device)
                    last_seq, last_end, closed = state
                    # the common case inline: the next reading of the device, after its last one
                    if sequence > last_seq and row[2] >= last_end and row[2] >= closed:
                        reason: str | None = None
                        detail: str | None = None
                    else:
                        reason, detail = self._check_state(s, row, local, seen)
                    if reason is None or reason == "late" or reason == "out_of_order":
                        if sequence > last_seq:          # a gap fill does not move the device's head
                            local[device] = (sequence, row[3], closed)
                        seen[(device, sequence)] = row[2:8]
                        stored.append(row + (verdict, now))
                        append_ack(Ack(sequence, "accepted", reason, detail))
                        continue
                else:
                    reason, detail = verdict
                if reason == "duplicate":
                    append_ack(Ack(row[1], "duplicate"))
                else:
                    quarantine.append({"device": row[0], "sequence": _i64(row[1]), "start": _i64(row[2]),
                                       "end": _i64(row[3]), "reason": reason, "detail": detail or "",
                                       "received_at": now, "payload": json.dumps(_row_json(row), sort_keys=True)})
                    append_ack(Ack(row[1], "rejected", reason, detail))
            if stored:
                if self.engine.dialect.name == "sqlite":      # plain executemany: no per-value bind processing
                    s.connection().exec_driver_sql(_INSERT_READING_SQLITE, stored)
                else:
                    s.execute(insert(StoredReading), [dict(zip(_READING_COLUMNS, row)) for row in stored])
            if quarantine:
                s.execute(insert(QuarantinedReading), quarantine)
            s.commit()
            for device, (seq, end, _closed) in local.items():   # only after the commit
                self._last[device] = (seq, end)
        if stored and self.on_accepted is not None:
            self.on_accepted(stored)
        return acks

    def quarantine_raw(self, device: bytes, reason: str, detail: str, payload: str) -> None:
        """Keep a message that could not even be parsed into readings (nothing silently dropped)."""
        with self._lock, Session(self.engine) as s, s.begin():
            s.add(QuarantinedReading(device=device, sequence=None, start=None, end=None, reason=reason, detail=detail[:2000],
                                     payload=payload, received_at=int(self.clock())))

    def _terms(self, device: bytes) -> DeviceTerms | None:
        """What the checks need of ``device``'s registration (:data:`oracles.checks.DeviceTerms`)."""
        info = self.devices.get(device)
        return None if info is None else (info.signer, info.quantity_code, info.calibrations, info.active)

    def _verify(self, rows: Sequence[ReadingRow], now: int,
                expect_device: bytes | None) -> list[bytes | tuple[str, str]]:
        """:func:`oracles.checks.check_readings` of every reading, in order: a leaf or (reason,
        detail) each. The device registrations are looked up here (once per device) and handed
        to the checks as plain tuples; large batches are checked in the worker processes."""
        devices = {device: self._terms(device) for device in {row[0] for row in rows}
                   if type(device) is bytes and len(device) == 32}
        return self.workers.map_chunks(check_readings, rows, self.domain_separator, now, expect_device, devices)

    def _check_state(self, s: Session, row: ReadingRow, local: dict[bytes, tuple[int, int, int]],
                     seen: dict[tuple[bytes, int], tuple[int, ...]]) -> tuple[str | None, str | None]:
        """Checks of a reading that passed :func:`oracles.checks.check_readings` against the device's stored
        and same-batch state (sequence, gaps, duplicates, overlaps, signed periods)."""
        device, sequence, start = row[0], row[1], row[2]
        if device not in local:
            local[device] = self._device_state(s, device)
        last_seq, last_end, closed = local[device]
        if sequence <= last_seq:
            prior: StoredReading | tuple[int, ...] | None = seen.get((device, sequence))
            if prior is None:
                prior = s.get(StoredReading, (device, sequence))
            if prior is None:
                if not self._fits_gap(s, row, seen):
                    return "sequence_not_increasing", f"sequence {sequence} <= last accepted {last_seq} and does not fit a gap"
                if start < closed:
                    return "late", f"period up to {closed} already signed: the reading goes into a correction batch"
                return "out_of_order", f"fills a gap below sequence {last_seq}"
            if _same_payload(prior, row):
                return "duplicate", None
            return "conflict", f"sequence {sequence} already stored with a different payload"
        if start < last_end:
            return "interval_overlaps", f"starts at {start}, previous reading ends at {last_end}"
        if start < closed:
            return "late", f"period up to {closed} already signed: the reading goes into a correction batch"
        return None, None

    @staticmethod
    def _fits_gap(s: Session, row: ReadingRow, seen: dict[tuple[bytes, int], tuple[int, ...]]) -> bool:
        """Whether ``row`` (a sequence below the device's head, not stored) sits between its stored
        (or same-batch) neighbours by sequence without overlapping them in time."""
        device, sequence, start, end = row[0], row[1], row[2], row[3]
        prev = s.execute(select(StoredReading.sequence, StoredReading.end).where(
            StoredReading.device == device, StoredReading.sequence < sequence)
            .order_by(StoredReading.sequence.desc()).limit(1)).first()
        nxt = s.execute(select(StoredReading.sequence, StoredReading.start).where(
            StoredReading.device == device, StoredReading.sequence > sequence)
            .order_by(StoredReading.sequence).limit(1)).first()
        p_seq, p_end = (prev[0], prev[1]) if prev else (-1, None)
        n_seq, n_start = (nxt[0], nxt[1]) if nxt else (None, None)
        for (dev, seq), v in seen.items():
            if dev != device:
                continue
            if p_seq < seq < sequence:
                p_seq, p_end = seq, v[1]
            elif seq > sequence and (n_seq is None or seq < n_seq):
                n_seq, n_start = seq, v[0]
        return (p_end is None or p_end <= start) and (n_start is None or end <= n_start)

    # ------------------------------------------------------------------ batches
    def readings_between(self, device: bytes, start: int, end: int) -> list[StoredReading]:
        """Accepted readings of ``device`` inside ``[start, end)``, by sequence."""
        with Session(self.engine) as s:
            return list(s.scalars(select(StoredReading).where(
                StoredReading.device == device, StoredReading.start >= start, StoredReading.start < end)
                .order_by(StoredReading.sequence)))

    def reading_rows_between(self, device: bytes, start: int, end: int,
                             after_sequence: int = -1) -> tuple[list[bytes], list[tuple[Any, ...]]]:
        """The leaves of every accepted reading of ``device`` inside ``[start, end)`` (by sequence:
        the batch's tree), and, for those with sequence > ``after_sequence``, the readings as plain
        tuples ``(index, sequence, start, end, quantity_code, value, scale, flags, signature, leaf)``
        (``index``: the reading's position among the leaves) — without ORM objects (the verifier's
        listing of a whole month, issue 14). A batch whose last sequence is not above
        ``after_sequence`` costs one indexed query and returns ``([], [])``."""
        window = (StoredReading.device == device, StoredReading.start >= start, StoredReading.start < end)
        with Session(self.engine) as s:
            last = s.scalar(select(func.max(StoredReading.sequence)).where(*window))
            if last is None or last <= after_sequence:
                return [], []
            rows = s.execute(select(StoredReading.sequence, StoredReading.start, StoredReading.end,
                                    StoredReading.quantity_code, StoredReading.value, StoredReading.scale,
                                    StoredReading.flags, StoredReading.signature, StoredReading.leaf)
                             .where(*window).order_by(StoredReading.sequence)).all()
        leaves = [r[8] for r in rows]
        return leaves, [(i, *r) for i, r in enumerate(rows) if r[0] > after_sequence]

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
