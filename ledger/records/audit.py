"""Audit queries: an anchored batch with its oracle signatures, and a monthly record's full
provenance (batches, signatures, factor set with its citation, attestation) — read from the
chain itself (state and events), so an auditor needs nothing but a JSON-RPC endpoint.
"""

from __future__ import annotations

from typing import Any

from ledger.contracts.deployment import Deployment

RECORD_STATUS = ("none", "draft", "submitted", "verified", "rejected", "confirmed")
ACTIVITY_TYPES = ("none", "purchased_electricity", "electricity_supplied", "heat_supplied", "fuel_combustion", "purchased_heat")
SOURCES = ("none", "anchored_meter_data", "declared")
_BATCH_FIELDS = ("device", "start", "end", "count", "totalWh", "root", "oracleSetVersion", "supersedes", "supersededBy")


class NotFound(LookupError):
    """The batch or record does not exist."""


def _hex(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, (list, tuple)):
        return [_hex(x) for x in v]
    return v


def _events(dep: Deployment, contract: Any, name: str, **filters: Any) -> list[Any]:
    ev = getattr(contract.events, name)()
    return list(ev.get_logs(from_block=dep.manifest["deployment_block"], argument_filters=filters))


def batch_provenance(dep: Deployment, batch_id: int) -> dict[str, Any]:
    """An anchored batch: stored fields, the anchoring transaction, signers and signatures.

    Raises:
        NotFound: if no batch has this id.
    """
    c, a = dep.client, dep.anchor
    if not 0 < batch_id <= int(c.call(a.functions.batchCount())):
        raise NotFound(f"no batch {batch_id}")
    b = dict(zip(_BATCH_FIELDS, c.call(a.functions.batch(batch_id))))
    out: dict[str, Any] = {"batch_id": batch_id, **{k: _hex(v) for k, v in b.items()},
                           "current_batch_id": int(c.call(a.functions.currentBatch(batch_id)))}
    logs = _events(dep, a, "BatchAnchored", batchId=batch_id)
    if logs:
        lg = logs[0]
        out["anchored_in"] = {"tx_hash": "0x" + bytes(lg["transactionHash"]).hex(), "block": lg["blockNumber"]}
        out["report_digest"] = _hex(lg["args"]["reportDigest"])
        out["signers"] = list(lg["args"]["signers"])
        out["signatures"] = _hex(list(lg["args"]["signatures"]))
    return out


def record_provenance(dep: Deployment, record_id: int) -> dict[str, Any]:
    """A monthly emissions record with everything it rests on.

    Returns a dict with the record's fields (units: activity Wh, EF kgCO2/kWh × 1e4, kgCO2),
    its batches (each with signers), the factor set (citation, label) and the life-cycle events.

    Raises:
        NotFound: if no record has this id.
    """
    c, em = dep.client, dep.emissions
    if not 0 < record_id <= int(c.call(em.functions.recordCount())):
        raise NotFound(f"no record {record_id}")
    r = c.call(em.functions.record(record_id))
    names = [o["name"] for o in em.functions.record.abi["outputs"][0]["components"]]
    rec = dict(zip(names, r))
    out: dict[str, Any] = {"record_id": record_id, **{k: _hex(v) for k, v in rec.items()}}
    out["status"] = RECORD_STATUS[int(rec["status"])]
    out["activityType"] = ACTIVITY_TYPES[int(rec["activityType"])]
    out["source"] = SOURCES[int(rec["source"])]
    device = bytes(rec["device"])
    batches = []
    for i in range(int(rec["firstBatchIndex"]), int(rec["lastBatchIndex"]) + 1):
        orig = int(c.call(dep.anchor.functions.deviceBatchAt(device, i)))
        batches.append(batch_provenance(dep, int(c.call(dep.anchor.functions.currentBatch(orig)))))
    out["batches"] = batches
    fs = int(rec["factorSetId"])
    pub = _events(dep, dep.factors, "FactorSetPublished", factorSetId=fs)
    if pub:
        args = pub[0]["args"]
        out["factor_set"] = {"factor_set_id": fs, "from_year": args["fromYear"], "to_year": args["toYear"],
                             "codes": _hex(list(args["codes"])), "values": list(args["values"]),
                             "scales": list(args["scales"]), "citation": args["citation"], "label": args["label"]}
    history = []
    for name in ("ActivityRecorded", "RecordSubmitted", "VerifierAssigned", "RecordAttested", "RecordRejected", "RecordConfirmed"):
        for lg in _events(dep, em, name, recordId=record_id):
            history.append({"event": name, "block": lg["blockNumber"], "tx_hash": "0x" + bytes(lg["transactionHash"]).hex(),
                            "args": {k: _hex(v) for k, v in dict(lg["args"]).items()}})
    out["history"] = sorted(history, key=lambda h: h["block"])
    return out
