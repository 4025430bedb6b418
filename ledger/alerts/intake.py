"""Alerts an oracle node posts (``POST /v1/oracle/alerts``): the node runs the regulator's meter-stream
rules over the readings it accepted (:mod:`oracles.alert_feed`) and sends each new alert; here it is
checked before it is stored, so a node can only report what an active rule of the regulator asks for.

Checks (each failure names the field): the body's ``alert_hash`` is keccak256 of its canonical JSON
(:func:`ledger.alerts.checks.alert_hash`); ``rule_id`` is an active rule of a meter-stream kind
(``stream_stuck``, ``stream_step``, ``stream_gap``, ``stream_imputed``) whose kind and severity the
alert repeats and whose scope is the alert's subject; the evidence names a device (0x + 64 hex).
Storing is idempotent by hash (:func:`ledger.alerts.store.save_alerts`): the same alert again is
answered with its stored id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from ledger.alerts import store
from ledger.alerts.checks import STREAM_CHECKS, Alert
from ledger.identifiers import org_id

_DEVICE = re.compile(r"^0x[0-9a-fA-F]{64}$")
#: The rule kinds an oracle node evaluates (over its stored meter stream).
NODE_KINDS = tuple(k.value for k in STREAM_CHECKS)


class AlertRefused(ValueError):
    """A posted alert was refused; ``field`` names the part that was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def node_rules(engine: Engine) -> list[dict[str, Any]]:
    """The active meter-stream rules an oracle node runs: those scoped to one enterprise
    (``enterprise:<USCC>``), each with the enterprise's on-chain ``org_id`` (0x hex,
    :func:`ledger.identifiers.org_id`) so the node matches them to its devices' owners. Sector-scoped
    rules need a device's sector, which a node does not hold: they run in ``carbonledger alerts run``."""
    out = []
    for r in store.list_rules(engine, limit=10_000):
        if r["kind"] in NODE_KINDS and r["scope"].startswith("enterprise:"):
            out.append({**r, "org_id": "0x" + org_id(r["scope"].removeprefix("enterprise:")).hex()})
    return out


def accept_node_alert(engine: Engine, body: Mapping[str, Any], node: str) -> tuple[int, bool]:
    """Check and store an alert posted by oracle node ``node`` (its account). Returns (alert id,
    True if it is new).

    Raises:
        AlertRefused: see the module docstring (hash, rule, kind, severity, subject, device).
    """
    alert = Alert(str(body["rule_id"]), str(body["kind"]), str(body["severity"]), str(body["subject"]),
                  str(body["period_start"]), str(body["period_end"]), dict(body["measure"]), str(body["message"]),
                  dict(body["evidence"]))
    try:
        digest = alert.hash
    except (TypeError, ValueError) as exc:       # e.g. a lone surrogate in a string: not UTF-8
        raise AlertRefused("body", f"the alert cannot be hashed as canonical UTF-8 JSON: {exc}") from None
    if digest != body.get("alert_hash"):
        raise AlertRefused("alert_hash", f"alert_hash {body.get('alert_hash')} is not keccak256 of the alert's canonical "
                                         f"JSON ({digest})")
    rule = next((r for r in store.list_rules(engine, limit=10_000) if r["rule_id"] == alert.rule_id), None)
    if rule is None:
        raise AlertRefused("rule_id", f"no active rule {alert.rule_id!r}")
    if rule["kind"] not in NODE_KINDS or rule["kind"] != alert.kind:
        raise AlertRefused("kind", f"rule {alert.rule_id} is {rule['kind']}; a node reports only "
                                   f"{', '.join(NODE_KINDS)} alerts of their rule's kind, got {alert.kind}")
    if rule["severity"] != alert.severity:
        raise AlertRefused("severity", f"rule {alert.rule_id} has severity {rule['severity']}, got {alert.severity}")
    if rule["scope"] != alert.subject:
        raise AlertRefused("subject", f"rule {alert.rule_id} covers {rule['scope']}, got {alert.subject}")
    if not _DEVICE.match(str(alert.evidence.get("device", ""))):
        raise AlertRefused("evidence.device", "the evidence must name the device (0x + 64 hex digits)")
    new = store.save_alerts(engine, [alert], f"oracle:{node}")
    if new:
        return new[0], True
    found = store.find_alert(engine, alert.hash)
    assert found is not None
    return found, False

