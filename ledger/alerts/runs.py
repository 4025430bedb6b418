"""Rule runs recorded (issue 13): one row per evaluation run and data set in the ``alerts`` store's
``alert_runs`` table — when it started and finished, which rules (id and version digest) it ran,
how many alerts each rule raised and for how many subjects it was not evaluable, with the reasons.
The regulator's alerts page shows the last run per data set and these counts per rule; ``GET
/v1/regulator/alert-runs`` lists them.

The not-evaluable reasons are kept here (and only here): an alert row records what fired, a run row
records what could not be judged (:func:`ledger.alerts.checks.summarize`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ledger.alerts.rules import Rule
from ledger.alerts.store import MAX_ID, AlertRunRow


def rule_version(rule: Rule) -> str:
    """Version digest of a rule: the first 16 hex digits of SHA-256 over its canonical JSON
    (:meth:`Rule.as_dict`), so a changed parameter, scope or severity is a new version."""
    return hashlib.sha256(json.dumps(rule.as_dict(), sort_keys=True).encode()).hexdigest()[:16]


def record_run(engine: Engine, *, run_id: str, dataset: str, trigger: str, started_at: int, finished_at: int,
               rules: Sequence[Rule], summary: Mapping[str, Mapping[str, Any]], alerts_new: int) -> dict[str, Any]:
    """Store one run of ``rules`` over ``dataset``; ``summary`` is :func:`ledger.alerts.checks.summarize`
    of its outcomes (per rule: alerts, subjects alert / no_alert / not_evaluable, reasons).

    Raises:
        ValueError: ``finished_at`` before ``started_at``, a negative ``alerts_new``, empty ``run_id``
            or ``dataset``.
    """
    if not run_id or not dataset:
        raise ValueError("a run needs a run id and a data set name")
    if finished_at < started_at or alerts_new < 0:
        raise ValueError(f"bad run times or counts: started {started_at}, finished {finished_at}, new {alerts_new}")
    used = [{"rule_id": r.rule_id, "kind": r.kind.value, "version": rule_version(r)} for r in rules]
    total = sum(int(row.get("alerts", 0)) for row in summary.values())
    with Session(engine) as s, s.begin():
        row = AlertRunRow(run_id=run_id[:120], dataset=dataset[:80], trigger=trigger[:40], started_at=started_at,
                          finished_at=finished_at, rules=json.dumps(used), summary=json.dumps(summary, sort_keys=True),
                          alerts_total=total, alerts_new=alerts_new)
        s.add(row)
        s.flush()
        return run_view(row)


def run_view(row: AlertRunRow) -> dict[str, Any]:
    """A run row as JSON (``summary``: per rule id the counts and not-evaluable reasons)."""
    return {"id": row.id, "run_id": row.run_id, "dataset": row.dataset, "trigger": row.trigger,
            "started_at": row.started_at, "finished_at": row.finished_at, "rules": json.loads(row.rules),
            "summary": json.loads(row.summary), "alerts_total": row.alerts_total, "alerts_new": row.alerts_new}


def list_runs(engine: Engine, after: int = 0, limit: int = 50, dataset: str | None = None) -> list[dict[str, Any]]:
    """Runs by id after ``after`` (oldest first), optionally of one data set."""
    with Session(engine) as s:
        q = select(AlertRunRow).where(AlertRunRow.id > min(after, MAX_ID))
        if dataset is not None:
            q = q.where(AlertRunRow.dataset == dataset)
        return [run_view(r) for r in s.scalars(q.order_by(AlertRunRow.id).limit(limit))]


def last_runs(engine: Engine) -> list[dict[str, Any]]:
    """The newest run of each data set, by data set name."""
    with Session(engine) as s:
        newest = select(func.max(AlertRunRow.id)).group_by(AlertRunRow.dataset)
        rows = s.scalars(select(AlertRunRow).where(AlertRunRow.id.in_(newest)).order_by(AlertRunRow.dataset))
        return [run_view(r) for r in rows]
