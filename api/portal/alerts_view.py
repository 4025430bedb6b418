"""What the regulator's alerts page shows (``/portal/regulator/alerts``), read from the alerts store
through :mod:`ledger.alerts.store` (the one listing query, :func:`ledger.alerts.store.list_alerts`)
and :mod:`ledger.alerts.runs` (the last run per data set, with per rule the alerts raised and the
subjects not evaluable and why). No rule is evaluated here.

Evidence links point at the audit routes that re-prove what an alert names: a reading's Merkle proof
(``/v1/audit/readings/{device}/{sequence}/proof``), an anchored batch (``/v1/audit/batches/{id}``),
a record's provenance (``/v1/audit/records/{id}``); what has no route (a file's lines, a batch report
not anchored yet) is shown as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from ledger.alerts import runs, store

#: Severities in the order the page shows them (ledger.alerts.rules.Severity).
SEVERITIES = ("critical", "warning", "info")
#: Alerts listed per page (newest first).
PAGE_SIZE = 200
_DEVICE = re.compile(r"^0x[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Link:
    """One piece of evidence: its label and, where a route re-proves it, the URL."""

    label: str
    href: str | None = None


def utc_seconds(iso: str) -> int | None:
    """UTC seconds of an alert's ISO 8601 period bound (``2007-01-01T09:00:00Z``), None if not one."""
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def evidence_links(evidence: dict[str, Any]) -> list[Link]:
    """The alert's evidence as links (see the module docstring), in a fixed order: records,
    readings, batches, then the source."""
    out: list[Link] = []
    recs = evidence.get("records")
    for r in recs if isinstance(recs, list) else [recs]:
        if isinstance(r, int):
            out.append(Link(f"record {r}", f"/v1/audit/records/{r}"))
        elif r:
            out.append(Link(f"records: {r}"))
    rd, device = evidence.get("readings"), str(evidence.get("device", ""))
    if isinstance(rd, dict) and "first_sequence" in rd:
        first, last = rd["first_sequence"], rd.get("last_sequence", rd["first_sequence"])
        what = f"readings {first}–{last} ({rd.get('count', '?')})"
        if _DEVICE.match(device):
            out.append(Link(f"{what}: proof of {first}", f"/v1/audit/readings/{device}/{first}/proof"))
            if last != first:
                out.append(Link(f"proof of {last}", f"/v1/audit/readings/{device}/{last}/proof"))
        else:
            out.append(Link(what))
    for key, what in (("sequence_before", "reading before the gap"), ("sequence_after", "reading after the gap")):
        seq = evidence.get(key)
        if isinstance(seq, int):
            out.append(Link(f"{what}: proof of {seq}", f"/v1/audit/readings/{device}/{seq}/proof") if _DEVICE.match(device)
                       else Link(f"{what}: {seq}"))
    for b in evidence.get("batches") or []:
        if b.get("batch_id"):
            out.append(Link(f"batch {b['batch_id']}", f"/v1/audit/batches/{b['batch_id']}"))
        else:
            out.append(Link(f"batch report {str(b.get('root', ''))[:10]}… (not anchored yet)"))
    if evidence.get("source"):
        lines = evidence.get("lines") or evidence.get("line")
        out.append(Link(f"source {evidence['source']}" + (f", lines {lines}" if lines else "")))
    return out


@dataclass
class AlertsPage:
    """The page's data: alerts (newest first, each with ``start_s`` / ``end_s`` and ``links``),
    active rules with their last-run counts, the last run per data set, the filter choices
    (subjects and rule ids: of the rules and of the alerts shown), and the counts per severity."""

    alerts: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    last_runs: list[dict[str, Any]]
    subjects: list[str]
    rule_ids: list[str]
    counts: dict[str, dict[str, int]]
    last_id: int


def gather(engine: Engine, rule_id: str | None, severity: str | None, subject: str | None) -> AlertsPage:
    """Everything the page shows, filtered by rule id, severity and subject (each None = all)."""
    rows = store.list_alerts(engine, 0, PAGE_SIZE, rule_id=rule_id, severity=severity, subject=subject, newest=True)
    for a in rows:
        a["start_s"], a["end_s"] = utc_seconds(a["period_start"]), utc_seconds(a["period_end"])
        a["links"] = evidence_links(a["evidence"])
    last = runs.last_runs(engine)
    rules = store.list_rules(engine, limit=1_000)
    known = {r["rule_id"] for r in rules}
    for run in last:                 # rules a run used without setting them (the sourced defaults)
        for used in run["rules"]:
            if used["rule_id"] not in known:
                known.add(used["rule_id"])
                row = run["summary"].get(used["rule_id"], {})
                rules.append({"rule_id": used["rule_id"], "kind": used["kind"], "scope": "", "params": {},
                              "severity": row.get("severity", ""), "source": row.get("source", ""), "set_by": None,
                              "set_at": None, "version": used["version"]})
    for r in rules:
        r["runs"] = [{"dataset": run["dataset"], "finished_at": run["finished_at"], **run["summary"][r["rule_id"]]}
                     for run in last if r["rule_id"] in run["summary"]]
    newest = store.list_alerts(engine, 0, 1, newest=True)
    return AlertsPage(rows, rules, last, sorted({a["subject"] for a in rows}),
                      sorted({r["rule_id"] for r in rules} | {a["rule_id"] for a in rows}), store.severity_counts(engine),
                      newest[0]["id"] if newest else 0)
