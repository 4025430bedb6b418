"""Emission records and anchored batches as read from the chain — shared by the API and the CLI.

Business rules stay in the contracts; this module only gathers what they hold: a device's
anchored batches, the batch index range a month covers (the contract checks it is complete),
and record listings with filters for cursor pagination.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ledger.contracts._generated.emissions_registry import Record
from ledger.contracts.anchored import DeviceBatch
from ledger.contracts.anchored import device_batches as anchor_device_batches
from ledger.contracts.deployment import Deployment

PURCHASED_ELECTRICITY = 1
RECORD_STATUS = ("none", "draft", "submitted", "verified", "rejected", "confirmed")
#: EmissionsRegistry.Source by value: batches in MeterDataAnchor, declared, proved round totals in MeterRounds.
RECORD_SOURCES = ("none", "anchored_meter_data", "declared", "anchored_meter_rounds")
#: EmissionsRegistry.Source values of meter data (acquisition method OnlineMonitoring).
METER_SOURCES = (1, 3)
_CHUNK = 200


class NoAnchoredData(LookupError):
    """The month has no anchored batch for the device."""


def device_batches(dep: Deployment, device: bytes) -> list[DeviceBatch]:
    """Every batch of ``device`` in anchoring order, each followed to its current correction."""
    return anchor_device_batches(dep.anchor, device)


def month_batch_range(dep: Deployment, enterprise: bytes, device: bytes, year: int, month: int,
                      batches: list[DeviceBatch] | None = None) -> tuple[int, int]:
    """First and last index of the device's batches inside the enterprise's local month.

    Raises:
        NoAnchoredData: if no batch lies inside the month.
    """
    w = dep.emissions.monthWindow(enterprise, year, month)
    idx = [b.index for b in (batches if batches is not None else device_batches(dep, device))
           if w.start <= b.batch.start and b.batch.end <= w.end]
    if not idx:
        raise NoAnchoredData(f"no anchored batch of device 0x{device.hex()} in {year}-{month:02d}")
    return idx[0], idx[-1]


def closing_round_id(dep: Deployment, root: bytes) -> int:
    """Id of the current (not superseded) anchored round whose tree has ``root``.

    Raises:
        LookupError: no current round has this root.
    """
    mr = dep.rounds
    for rid in range(int(mr.roundCount()), 0, -1):
        r = mr.round(rid)
        if bytes(r.root) == root and int(r.supersededBy) == 0:
            return rid
    raise LookupError(f"no current anchored round has root 0x{root.hex()}")


def record(dep: Deployment, record_id: int) -> dict[str, Any]:
    """One record as a dict of its on-chain fields (bytes as 0x hex, status as a name).

    Raises:
        LookupError: if no record has this id.
    """
    if not 0 < record_id <= dep.emissions.recordCount():
        raise LookupError(f"no record {record_id}")
    return record_dict(record_id, dep.emissions.record(record_id))


def record_dict(record_id: int, r: Record) -> dict[str, Any]:
    """A record as JSON: ``record_id``, the struct's fields by name (bytes as 0x hex), status as a
    name, and ``source_name``: where the activity data comes from (:data:`RECORD_SOURCES`, e.g.
    ``anchored_meter_rounds`` for a month proved against an oracle round)."""
    d: dict[str, Any] = {"record_id": record_id, **r.as_json()}
    d["status"] = RECORD_STATUS[r.status]
    d["source_name"] = RECORD_SOURCES[r.source]
    return d


def iter_records(dep: Deployment, after_id: int = 0, *, enterprise: str | None = None, verifier: str | None = None,
                 year: int | None = None, month: int | None = None, status: str | None = None) -> Iterator[dict[str, Any]]:
    """Records with id > ``after_id`` matching the filters, in id order (``enterprise`` is the
    0x org id; ``verifier`` an address, compared case-insensitively)."""
    n = dep.emissions.recordCount()
    for lo in range(after_id + 1, n + 1, _CHUNK):
        ids = list(range(lo, min(lo + _CHUNK, n + 1)))
        for rid, rec in zip(ids, dep.client.call_many([dep.emissions.functions.record(i) for i in ids])):
            r = record_dict(rid, rec)
            if enterprise and r["enterprise"].lower() != enterprise.lower():
                continue
            if verifier and str(r["verifier"]).lower() != verifier.lower():
                continue
            if year and r["year"] != year or month and r["month"] != month or status and r["status"] != status:
                continue
            yield r


def confirmed_totals(dep: Deployment) -> list[dict[str, Any]]:
    """Published totals: per reporting year, the number of confirmed records and their emissions
    (kgCO2, and tCO2 with 3 decimals) — what the public may see (DESIGN.md §1, auditor/public)."""
    by_year: dict[int, list[int]] = {}
    for r in iter_records(dep, status="confirmed"):
        y = by_year.setdefault(int(r["year"]), [0, 0])
        y[0] += 1
        y[1] += int(r["emissionsKg"])
    return [{"year": y, "confirmed_records": n, "emissions_kgco2": kg, "emissions_tco2": f"{kg / 1000:.3f}"}
            for y, (n, kg) in sorted(by_year.items())]


def annual_emissions(dep: Deployment, enterprise: bytes, year: int) -> dict[str, Any]:
    """What Allocation and Compliance read for an enterprise-year (EmissionsRegistry.annualEmissions:
    closable, complete, assessed, kgCO2, Wh, MJ, counts) with its enrolled sources and confirmed months."""
    em = dep.emissions
    out = {k: (("0x" + v.hex()) if isinstance(v, bytes) else v) for k, v in em.annualEmissions(enterprise, year).as_dict().items()}
    out["sources"] = [{"activity_type": int(s.activityType), "subject": "0x" + bytes(s.subject).hex(),
                       "confirmed_months": [m for m in range(1, 13) if s.confirmedMonths >> m & 1],
                       "annual": bool(s.confirmedMonths & 1)} for s in em.enrolledSources(enterprise, year)]
    return out


def month_gap(dep: Deployment, device: bytes, year: int, month: int) -> dict[str, Any]:
    """The gap declared for a meter's month: days, reason, the regulator's substitute Wh and basis."""
    g = dep.emissions.gap(device, year, month)
    return {"device": "0x" + device.hex(), "year": year, "month": month,
            "days": [d + 1 for d in range(31) if g.dayMask >> d & 1], "reason_hash": "0x" + bytes(g.reasonHash).hex(),
            "substitute_wh": int(g.substituteWh), "basis_hash": "0x" + bytes(g.basisHash).hex()}
