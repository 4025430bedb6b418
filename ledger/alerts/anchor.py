"""Anchoring an alert's hash on-chain: ``EvidenceRegistry.anchorAlert`` (a routine regulator act), then
the transaction and the block time it recorded are kept beside the alert in the alerts store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from ledger.alerts.store import get_alert, mark_anchored
from ledger.contracts.deployment import Deployment


class AlertHashMismatch(ValueError):
    """The stored alert's fields no longer hash to its ``alert_hash``: it is not anchored."""


def anchor_alert(dep: Deployment, engine: Engine, sender: str, alert_id: int) -> dict[str, Any]:
    """Anchor alert ``alert_id``'s hash from the regulator account ``sender`` (custodial in
    ``dep.client``); returns the alert with ``anchor_tx`` and ``anchored_at`` (UTC s, block time).

    Raises:
        LookupError: no such alert.
        AlertHashMismatch: its stored fields do not hash to its ``alert_hash``.
        ContractRevert: ``NotRegulator``, ``AlertAlreadyAnchored`` (the pre-flight refuses; nothing sent).
    """
    a = get_alert(engine, alert_id)
    if a is None:
        raise LookupError(f"no alert {alert_id}")
    if not a["hash_ok"]:
        raise AlertHashMismatch(f"alert {alert_id}: stored fields do not hash to {a['alert_hash']}")
    h = bytes.fromhex(a["alert_hash"][2:])
    res = dep.client.send([dep.evidence.anchorAlert(h, sender=sender, label=f"anchor alert {alert_id}")])[0]
    mark_anchored(engine, alert_id, res.tx_hash, int(dep.evidence.alertAnchoredAt(h)))
    out = get_alert(engine, alert_id)
    assert out is not None
    return out
