"""Audit queries: an anchored batch with its oracle signatures, and a monthly record's full
provenance (batches, signatures, factor set with its citation, attestation) — read from the
chain itself (state and events), so an auditor needs nothing but a JSON-RPC endpoint.
"""

from __future__ import annotations

from typing import Any

from ledger.contracts.anchored import split_signatures
from ledger.contracts.binding import ContractBinding, json_ready
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import recover_address

RECORD_STATUS = ("none", "draft", "submitted", "verified", "rejected", "confirmed")
ACTIVITY_TYPES = ("none", "purchased_electricity", "electricity_supplied", "heat_supplied", "fuel_combustion", "purchased_heat")
SOURCES = ("none", "anchored_meter_data", "declared", "anchored_meter_rounds")


class NotFound(LookupError):
    """The batch or record does not exist."""


def _events(dep: Deployment, contract: ContractBinding, name: str, **filters: Any) -> list[Any]:
    return contract.get_logs(name, dep.manifest["deployment_block"], **filters)


def batch_provenance(dep: Deployment, batch_id: int) -> dict[str, Any]:
    """An anchored batch: stored fields, the anchoring transaction, signers and signatures.

    Raises:
        NotFound: if no batch has this id.
    """
    a = dep.anchor
    if not 0 < batch_id <= a.batchCount():
        raise NotFound(f"no batch {batch_id}")
    out: dict[str, Any] = {"batch_id": batch_id, **a.batch(batch_id).as_json(),
                           "current_batch_id": a.currentBatch(batch_id)}
    logs = _events(dep, a, "BatchAnchored", batchId=batch_id)
    if logs:
        lg = logs[0]
        out["anchored_in"] = {"tx_hash": lg.tx_hash, "block": lg.block_number}
        out["report_digest"] = json_ready(lg.event.reportDigest)
        sigs = split_signatures(lg.event.signatures)
        out["signers"] = [recover_address(lg.event.reportDigest, sig) for sig in sigs]
        out["signatures"] = [json_ready(sig) for sig in sigs]
    return out


def record_provenance(dep: Deployment, record_id: int) -> dict[str, Any]:
    """A monthly emissions record with everything it rests on.

    Returns a dict with the record's fields (units: activity Wh, EF kgCO2/kWh × 1e4, kgCO2),
    its batches (each with signers), the factor set (citation, label) and the life-cycle events.

    Raises:
        NotFound: if no record has this id.
    """
    a, em = dep.anchor, dep.emissions
    if not 0 < record_id <= em.recordCount():
        raise NotFound(f"no record {record_id}")
    rec = em.record(record_id)
    out: dict[str, Any] = {"record_id": record_id, **rec.as_json()}
    out["status"] = RECORD_STATUS[rec.status]
    out["activityType"] = ACTIVITY_TYPES[rec.activityType]
    out["source"] = SOURCES[rec.source]
    batches = []
    if out["source"] == "anchored_meter_data":
        for i in range(rec.firstBatchIndex, rec.lastBatchIndex + 1):
            batches.append(batch_provenance(dep, a.currentBatch(a.deviceBatchAt(rec.device, i))))
    elif out["source"] == "anchored_meter_rounds":           # the proved meter-month and its round
        p = dep.rounds.provenMonth(rec.device, rec.year, rec.month)
        out["meter_month"] = {**p.as_json(), "round": dep.rounds.round(p.roundId).as_json() if p.roundId else None}
    out["batches"] = batches
    fs = rec.factorSetId
    pub = _events(dep, dep.factors, "FactorSetPublished", factorSetId=fs)
    if pub:
        ev = pub[0].event
        out["factor_set"] = {"factor_set_id": fs, "from_year": ev.fromYear, "to_year": ev.toYear,
                             "codes": json_ready(ev.codes), "values": list(ev.values),
                             "scales": list(ev.scales), "citation": ev.citation, "label": ev.label}
    history = []
    for name in ("ActivityRecorded", "RecordSubmitted", "VerifierAssigned", "RecordAttested", "RecordRejected", "RecordConfirmed"):
        for lg in _events(dep, em, name, recordId=record_id):
            history.append({"event": name, "block": lg.block_number, "tx_hash": lg.tx_hash, "args": lg.event.as_json()})
    out["history"] = sorted(history, key=lambda h: h["block"])
    return out
