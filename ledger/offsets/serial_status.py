"""The status of one CCER serial read from the chain (CCERRegistry.serialState) with the event
that put it there: issued in a batch (BatchIssued), then Active, or out of circulation for good
as Retired (RetirementCertified), Cancelled (CreditsCancelled) or Surrendered (清缴,
SerialsSurrendered) — issue 12: serials stay consistent with tokens. Used by the registry's and
the audit's serial look-ups (api/registry.py, api/audit.py).
"""

from __future__ import annotations

from typing import Any

from ledger.contracts.binding import json_ready
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import keccak256
from ledger.offsets.serials import SERIAL_STATUSES, parse_serial

#: The event that marks a serial of each out-of-circulation status, and how to read its range.
_MARKING_EVENTS = {"retired": "RetirementCertified", "cancelled": "CreditsCancelled", "surrendered": "SerialsSurrendered"}


def _marking_range(name: str, ev: Any) -> tuple[bytes, int, int]:
    src = ev.cert if name == "RetirementCertified" else ev
    return bytes(src.serialPrefix), int(src.serialStart), int(src.serialEnd)


def serial_status(dep: Deployment, serial: str) -> dict[str, Any]:
    """Status of serial ``serial`` (``"<prefix><number>"``, e.g. ``"CCER-CN-1001-2021-57"``).

    Returns:
        ``serial``, ``prefix``, ``number``, ``status`` (unissued, active, retired, cancelled,
        surrendered), ``run`` (the serials around it with that status as ``"<prefix><a> to <b>"``,
        adjacent pieces of one status merged; None when unissued), ``issued_in`` (batch id,
        amount, transaction of the BatchIssued whose range holds it) and, out of circulation,
        ``marked_by``: the event (name, arguments, block, transaction) whose range holds it.

    Raises:
        ValueError: ``serial`` is not ``<prefix><number>`` with number in 1…2^64-2.
    """
    prefix, n = parse_serial(serial)
    h = keccak256(prefix.encode())
    reg = dep.ccer
    st = reg.serialState(h, n)
    status = SERIAL_STATUSES[st.status]
    out: dict[str, Any] = {"serial": serial.strip(), "prefix": prefix, "number": n, "status": status,
                           "run": None if status == "unissued" else f"{prefix}{st.runStart} to {st.runEnd}",
                           "issued_in": None, "marked_by": None}
    if status == "unissued":
        return out
    start = dep.manifest["deployment_block"]
    for lg in reg.get_logs("BatchIssued", start):
        ev = lg.event
        if ev.serialPrefix == prefix and ev.serialStart <= n <= ev.serialEnd:
            out["issued_in"] = {"batch_id": ev.batchId, "asset_id": str(ev.assetId), "amount": ev.amount,
                                "tx_hash": lg.tx_hash, "block": lg.block_number}
            break
    name = _MARKING_EVENTS.get(status)
    if name is not None:
        for lg in reg.get_logs(name, start):
            p, a, b = _marking_range(name, lg.event)
            if p == h and a <= n <= b:
                out["marked_by"] = {"event": name, "args": json_ready(lg.event.as_json()), "tx_hash": lg.tx_hash,
                                    "block": lg.block_number}
                break
    return out
