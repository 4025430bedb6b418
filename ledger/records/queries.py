"""Emission records and anchored batches as read from the chain — shared by the API and the CLI.

Business rules stay in the contracts; this module only gathers what they hold: a device's
anchored batches, the batch index range a month covers (the contract checks it is complete),
and record listings with filters for cursor pagination.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ledger.contracts.deployment import Deployment

PURCHASED_ELECTRICITY = 1
RECORD_STATUS = ("none", "draft", "submitted", "verified", "rejected", "confirmed")
_CHUNK = 200


class NoAnchoredData(LookupError):
    """The month has no anchored batch for the device."""


@dataclass(frozen=True)
class AnchoredBatch:
    """A batch as anchored on-chain (the current one of its supersede chain)."""

    batch_id: int
    start: int
    end: int
    count: int
    total_wh: int
    root: bytes


@dataclass(frozen=True, slots=True)
class DeviceBatch:
    """A device's batch list entry: index, original id, current (supersede-followed) batch."""

    index: int
    original_id: int
    batch: AnchoredBatch


def eth_calls(dep: Deployment, fns: list[Any]) -> list[Any]:
    """Many view calls (web3 contract functions) as JSON-RPC batches of 200; each result decoded
    (one value, or the tuple of several). Raises the client's ContractRevert on a revert."""
    out: list[Any] = []
    for lo in range(0, len(fns), _CHUNK):
        chunk = fns[lo:lo + _CHUNK]
        resp = dep.client.rpc_batch([("eth_call", [{"to": f.address, "data": f._encode_transaction_data()}, "latest"]) for f in chunk])
        for f, r in zip(chunk, resp):
            if "error" in r:
                raise dep.client.decode_revert((r["error"] or {}).get("data"), f.fn_name)
            types = [o["type"] if not o["type"].startswith("tuple") else _tuple_type(o) for o in f.abi["outputs"]]
            vals = dep.client.w3.codec.decode(types, bytes.fromhex(r["result"][2:]))
            out.append(vals[0] if len(vals) == 1 else vals)
    return out


def _tuple_type(o: dict[str, Any]) -> str:
    return "(" + ",".join(c["type"] if not c["type"].startswith("tuple") else _tuple_type(c) for c in o["components"]) + ")" + o["type"][5:]


def device_batches(dep: Deployment, device: bytes) -> list[DeviceBatch]:
    """Every batch of ``device`` in anchoring order, each followed to its current correction."""
    a = dep.anchor.functions
    n = int(dep.client.call(a.deviceBatchCount(device)))
    ids = [int(x) for x in eth_calls(dep, [a.deviceBatchAt(device, i) for i in range(n)])]
    cur = [int(x) for x in eth_calls(dep, [a.currentBatch(b) for b in ids])]
    rows = eth_calls(dep, [a.batch(b) for b in cur])
    return [DeviceBatch(i, o, AnchoredBatch(b, int(r[1]), int(r[2]), int(r[3]), int(r[4]), bytes(r[5])))
            for i, (o, b, r) in enumerate(zip(ids, cur, rows))]


def month_batch_range(dep: Deployment, enterprise: bytes, device: bytes, year: int, month: int,
                      batches: list[DeviceBatch] | None = None) -> tuple[int, int]:
    """First and last index of the device's batches inside the enterprise's local month.

    Raises:
        NoAnchoredData: if no batch lies inside the month.
    """
    ws, we = dep.client.call(dep.emissions.functions.monthWindow(enterprise, year, month))
    idx = [b.index for b in (batches if batches is not None else device_batches(dep, device))
           if ws <= b.batch.start and b.batch.end <= we]
    if not idx:
        raise NoAnchoredData(f"no anchored batch of device 0x{device.hex()} in {year}-{month:02d}")
    return idx[0], idx[-1]


def record_fields(dep: Deployment) -> list[str]:
    """Field names of ``EmissionsRegistry.record``'s struct, in order."""
    return [c["name"] for c in dep.emissions.functions.record.abi["outputs"][0]["components"]]


def record(dep: Deployment, record_id: int) -> dict[str, Any]:
    """One record as a dict of its on-chain fields (bytes as 0x hex, status as a name).

    Raises:
        LookupError: if no record has this id.
    """
    if not 0 < record_id <= int(dep.client.call(dep.emissions.functions.recordCount())):
        raise LookupError(f"no record {record_id}")
    return _as_dict(record_fields(dep), dep.client.call(dep.emissions.functions.record(record_id)), record_id)


def _as_dict(names: list[str], values: Any, rid: int) -> dict[str, Any]:
    d: dict[str, Any] = {"record_id": rid}
    for n, v in zip(names, values):
        d[n] = "0x" + bytes(v).hex() if isinstance(v, (bytes, bytearray)) else v
    d["status"] = RECORD_STATUS[int(d["status"])]
    return d


def iter_records(dep: Deployment, after_id: int = 0, *, enterprise: str | None = None, verifier: str | None = None,
                 year: int | None = None, month: int | None = None, status: str | None = None) -> Iterator[dict[str, Any]]:
    """Records with id > ``after_id`` matching the filters, in id order (``enterprise`` is the
    0x org id; ``verifier`` an address, compared case-insensitively)."""
    n = int(dep.client.call(dep.emissions.functions.recordCount()))
    names = record_fields(dep)
    for lo in range(after_id + 1, n + 1, _CHUNK):
        ids = list(range(lo, min(lo + _CHUNK, n + 1)))
        for rid, vals in zip(ids, eth_calls(dep, [dep.emissions.functions.record(i) for i in ids])):
            r = _as_dict(names, vals, rid)
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
