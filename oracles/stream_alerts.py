"""Meter-stream rules over what an oracle node stored: its accepted readings of a device (the stream),
the holes between them (gaps: ``rejected`` where the node quarantined a reading of that device
starting in the hole, else ``absent``), and, as evidence of each alert, the batch reports the node
signed over the alert's period with their anchored batch id (proofs: ``GET /v1/audit/readings/{device}/
{sequence}/proof`` for the sequences the alert names).

A small module apart from the node's hot path (issue 14's border): it reads the node's store with
plain SQL queries; the rules are :mod:`ledger.alerts.checks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ledger.alerts.checks import STREAM_CHECKS, Alert, MeterStream, Outcome, StreamGap, StreamReading, iso
from ledger.alerts.rules import Rule
from oracles.store import QuarantinedReading, SignedBatchReport, StoredReading


def node_stream(engine: Engine, device: bytes, subject: str, start: int, end: int) -> MeterStream:
    """The stream of ``device`` in [start, end) UTC s as the node stored it (values as stored:
    W for electricity readings, scale 0)."""
    with Session(engine) as s:
        rows = s.execute(select(StoredReading.sequence, StoredReading.start, StoredReading.end, StoredReading.value)
                         .where(StoredReading.device == device, StoredReading.start >= start, StoredReading.start < end)
                         .order_by(StoredReading.start)).all()
        quarantined = set(s.scalars(select(QuarantinedReading.start).where(
            QuarantinedReading.device == device, QuarantinedReading.start >= start,
            QuarantinedReading.start < end)))
    readings = [StreamReading(*r) for r in rows]
    gaps = [StreamGap(a.end, b.start, "rejected" if any(a.end <= q < b.start for q in quarantined) else "absent")
            for a, b in zip(readings, readings[1:]) if b.start > a.end]
    return MeterStream(subject, None, "0x" + device.hex(), readings, gaps, f"oracle store {engine.url.database or engine.url}")


def _batches(engine: Engine, device: bytes, alert: Alert) -> list[dict[str, Any]]:
    lo, hi = alert.period_start, alert.period_end
    with Session(engine) as s:
        rows = s.scalars(select(SignedBatchReport).where(SignedBatchReport.device == device)
                         .order_by(SignedBatchReport.start)).all()
        return [{"start": iso(r.start), "end": iso(r.end), "root": "0x" + r.root.hex(), "batch_id": r.anchored_batch_id}
                for r in rows if iso(r.start) < hi and iso(r.end) > lo]


def check_node_stream(engine: Engine, device: bytes, subject: str, rules: Sequence[Rule], start: int,
                      end: int) -> list[Outcome]:
    """Every stream rule of ``rules`` over the node's stream of ``device`` in [start, end); each alert's
    evidence gains ``batches`` (the node's signed reports over its period, with anchored batch ids)."""
    stream = node_stream(engine, device, subject, start, end)
    out = []
    for rule in rules:
        check = STREAM_CHECKS.get(rule.kind)
        if check is None:
            continue
        o = check(rule, stream)
        o.alerts = [replace(a, evidence={**a.evidence, "batches": _batches(engine, device, a)}) for a in o.alerts]
        out.append(o)
    return out
