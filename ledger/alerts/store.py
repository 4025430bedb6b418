"""The early-warning store: the regulator's rules (every version kept) and the alerts raised.

SQLAlchemy 2 models on their own declarative base (:class:`AlertsBase`, Alembic store ``alerts``,
``ledger/migrations/alerts``); open it with ``make_engine(url, store="alerts")`` or migrate an engine
with ``ledger.store.migrate.upgrade(engine, "alerts")``. It may share a database with the other
stores (its own version table).

:func:`list_alerts` is the one listing query — the API's ``GET /v1/regulator/alerts``, its
server-sent-event stream and the regulator's pages all read alerts through it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BigInteger, Boolean, Engine, Index, Integer, String, Text, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ledger.alerts.checks import Alert, alert_hash
from ledger.alerts.rules import Rule, rule_from_dict

#: Largest row id (the id columns are INTEGER: 32-bit on PostgreSQL); cursors beyond it match nothing.
MAX_ID = 2**31 - 1


class AlertsBase(DeclarativeBase):
    """Declarative base of the early-warning store."""


class AlertRuleRow(AlertsBase):
    """One version of a rule as the regulator set it. Setting a rule id again deactivates the
    previous version (kept, with who set it and when)."""

    __tablename__ = "alert_rules"
    __table_args__ = (Index("ix_alert_rules_rule_active", "rule_id", "active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(80), index=True)
    params: Mapped[str] = mapped_column(Text)                       # JSON object
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(500))
    set_by: Mapped[str] = mapped_column(String(42))                 # the regulator's account
    set_at: Mapped[int] = mapped_column(BigInteger)                 # UTC s
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AlertRow(AlertsBase):
    """A stored alert; ``alert_hash`` (keccak256 of its canonical JSON) makes storing idempotent."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_rule", "rule_id"), Index("ix_alerts_subject", "subject"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_hash: Mapped[str] = mapped_column(String(66), unique=True)
    rule_id: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16), index=True)
    subject: Mapped[str] = mapped_column(String(80))
    period_start: Mapped[str] = mapped_column(String(20))           # ISO 8601 UTC
    period_end: Mapped[str] = mapped_column(String(20))
    measure: Mapped[str] = mapped_column(Text)                      # JSON
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)                     # JSON
    run: Mapped[str] = mapped_column(String(120), default="")       # the evaluation that raised it
    created_at: Mapped[int] = mapped_column(BigInteger)             # UTC s
    anchor_tx: Mapped[str | None] = mapped_column(String(66), nullable=True)      # EvidenceRegistry.anchorAlert
    anchored_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)    # block time, UTC s


class AlertRunRow(AlertsBase):
    """One evaluation run over one data set (written and read by :mod:`ledger.alerts.runs`)."""

    __tablename__ = "alert_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(120), index=True)     # e.g. alerts-run:2026-12-04T10:00:00Z
    dataset: Mapped[str] = mapped_column(String(80), index=True)     # e.g. uci-2007, ampd-2016-2017
    trigger: Mapped[str] = mapped_column(String(40))                 # cli | api | oracle:<node>
    started_at: Mapped[int] = mapped_column(BigInteger)             # UTC s
    finished_at: Mapped[int] = mapped_column(BigInteger)            # UTC s
    rules: Mapped[str] = mapped_column(Text)                         # JSON [{rule_id, kind, version}]
    summary: Mapped[str] = mapped_column(Text)                       # JSON {rule_id: summarize() row}
    alerts_total: Mapped[int] = mapped_column(Integer)
    alerts_new: Mapped[int] = mapped_column(Integer)


def set_rule(engine: Engine, rule: Rule, set_by: str, now: int | None = None) -> dict[str, Any]:
    """Store ``rule`` as the active version of its id (the previous active version is kept,
    inactive). Returns the stored row (:func:`rule_view`)."""
    with Session(engine) as s, s.begin():
        s.execute(update(AlertRuleRow).where(AlertRuleRow.rule_id == rule.rule_id, AlertRuleRow.active.is_(True))
                  .values(active=False))
        row = AlertRuleRow(rule_id=rule.rule_id, kind=rule.kind.value, scope=rule.scope,
                           params=json.dumps(dict(rule.params), sort_keys=True), severity=rule.severity.value,
                           source=rule.source, set_by=set_by, set_at=int(time.time()) if now is None else now,
                           active=True)
        s.add(row)
        s.flush()
        return rule_view(row)


def rule_view(row: AlertRuleRow) -> dict[str, Any]:
    """A rule row as JSON."""
    return {"id": row.id, "rule_id": row.rule_id, "kind": row.kind, "scope": row.scope, "params": json.loads(row.params),
            "severity": row.severity, "source": row.source, "set_by": row.set_by, "set_at": row.set_at,
            "active": row.active}


def list_rules(engine: Engine, after: int = 0, limit: int = 50, active_only: bool = True) -> list[dict[str, Any]]:
    """Rule versions by id after ``after`` (active ones only by default)."""
    with Session(engine) as s:
        q = select(AlertRuleRow).where(AlertRuleRow.id > min(after, MAX_ID))
        if active_only:
            q = q.where(AlertRuleRow.active.is_(True))
        return [rule_view(r) for r in s.scalars(q.order_by(AlertRuleRow.id).limit(limit))]


def active_rules(engine: Engine) -> list[Rule]:
    """The active rules, validated again (:func:`ledger.alerts.rules.rule_from_dict`)."""
    with Session(engine) as s:
        rows = s.scalars(select(AlertRuleRow).where(AlertRuleRow.active.is_(True)).order_by(AlertRuleRow.id)).all()
        return [rule_from_dict({**rule_view(r)}) for r in rows]


def save_alerts(engine: Engine, alerts: Iterable[Alert], run: str = "", now: int | None = None) -> list[int]:
    """Store alerts not stored yet (same hash = same alert). Returns the ids of the new ones."""
    ts = int(time.time()) if now is None else now
    new: list[int] = []
    with Session(engine) as s, s.begin():
        for a in alerts:
            h = a.hash
            if s.scalar(select(AlertRow.id).where(AlertRow.alert_hash == h)) is not None:
                continue
            row = AlertRow(alert_hash=h, rule_id=a.rule_id, kind=a.kind, severity=a.severity, subject=a.subject,
                           period_start=a.period_start, period_end=a.period_end,
                           measure=json.dumps(dict(a.measure), sort_keys=True, default=str), message=a.message,
                           evidence=json.dumps(dict(a.evidence), sort_keys=True, default=str), run=run, created_at=ts)
            s.add(row)
            s.flush()
            new.append(row.id)
    return new


def alert_view(row: AlertRow) -> dict[str, Any]:
    """An alert row as JSON; ``hash_ok`` says whether the stored fields still hash to ``alert_hash``."""
    d = {"id": row.id, "alert_hash": row.alert_hash, "rule_id": row.rule_id, "kind": row.kind,
         "severity": row.severity, "subject": row.subject, "period_start": row.period_start,
         "period_end": row.period_end, "measure": json.loads(row.measure), "message": row.message,
         "evidence": json.loads(row.evidence), "run": row.run, "created_at": row.created_at,
         "anchor_tx": row.anchor_tx, "anchored_at": row.anchored_at}
    body = {k: d[k] for k in ("rule_id", "kind", "severity", "subject", "period_start", "period_end", "measure",
                              "message", "evidence")}
    d["hash_ok"] = alert_hash(body) == row.alert_hash
    return d


def list_alerts(engine: Engine, after: int = 0, limit: int = 50, *, rule_id: str | None = None,
                kind: str | None = None, severity: str | None = None, subject: str | None = None,
                severities: Sequence[str] | None = None, newest: bool = False) -> list[dict[str, Any]]:
    """Alerts with id > ``after`` in id order (newest first with ``newest``: the last ``limit``),
    at most ``limit``, filtered by rule id, kind, severity (or any of ``severities``) and subject:
    the listing behind the API, its stream and the regulator's pages (:func:`alert_view` dictionaries)."""
    with Session(engine) as s:
        q = select(AlertRow).where(AlertRow.id > min(after, MAX_ID))
        if rule_id is not None:
            q = q.where(AlertRow.rule_id == rule_id)
        if kind is not None:
            q = q.where(AlertRow.kind == kind)
        if severity is not None:
            q = q.where(AlertRow.severity == severity)
        if severities:
            q = q.where(AlertRow.severity.in_(list(severities)))
        if subject is not None:
            q = q.where(AlertRow.subject == subject)
        order = AlertRow.id.desc() if newest else AlertRow.id
        return [alert_view(r) for r in s.scalars(q.order_by(order).limit(limit))]


def find_alert(engine: Engine, alert_hash_hex: str) -> int | None:
    """The id of the alert with hash ``alert_hash_hex`` (0x hex), or None."""
    with Session(engine) as s:
        return s.scalar(select(AlertRow.id).where(AlertRow.alert_hash == alert_hash_hex))


def get_alert(engine: Engine, alert_id: int) -> dict[str, Any] | None:
    """One alert by id, or None."""
    if not 0 < alert_id <= MAX_ID:
        return None
    with Session(engine) as s:
        row = s.get(AlertRow, alert_id)
        return None if row is None else alert_view(row)


def mark_anchored(engine: Engine, alert_id: int, tx_hash: str, anchored_at: int) -> None:
    """Record the transaction that anchored the alert's hash and the block time it holds.

    Raises:
        LookupError: no alert ``alert_id``.
    """
    with Session(engine) as s, s.begin():
        row = s.get(AlertRow, alert_id)
        if row is None:
            raise LookupError(f"no alert {alert_id}")
        row.anchor_tx, row.anchored_at = tx_hash, anchored_at


def severity_counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Stored alerts per severity: ``{severity: {"total": n, "anchored": m}}``."""
    out: dict[str, dict[str, int]] = {}
    with Session(engine) as s:
        for sev, anchored in s.execute(select(AlertRow.severity, AlertRow.anchor_tx.is_not(None))):
            row = out.setdefault(sev, {"total": 0, "anchored": 0})
            row["total"] += 1
            row["anchored"] += bool(anchored)
    return out


def count_alerts(engine: Engine) -> dict[str, int]:
    """Stored alerts per rule id."""
    out: dict[str, int] = {}
    with Session(engine) as s:
        for rid in s.scalars(select(AlertRow.rule_id)):
            out[rid] = out.get(rid, 0) + 1
    return out
