"""Helpers for tests that drive a live app: uvicorn on a free port in a thread, and a world with
months of meter data anchored on-chain *and* served by an oracle node (so verifiers can rebuild
every root from the readings)."""

from __future__ import annotations

import calendar
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from ledger.crypto.primitives import Signer
from ledger.store.db import make_engine, sqlite_url
from oracles.chain_devices import ChainDeviceDirectory
from oracles.device import DeviceSigner
from oracles.node import OracleNode
from tests.conftest import World, free_port
from tests.helpers import DAY0, all_days_but, declare_gap, minute_readings
from tests.test_contracts import anchor_day

#: Local month starts (UTC+1 enterprise) of January, February and March 2007.
MONTH_START = {1: DAY0, 2: DAY0 + 31 * 86_400, 3: DAY0 + 59 * 86_400}


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1:<free port> in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    t = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not t.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(timeout=10)


def serving_node(w: World, tmp: Path, name: str = "oracle-1") -> OracleNode:
    """An oracle node of ``name`` on a fresh SQLite store, clock = wall clock."""
    return OracleNode(name, Signer(w.keys[name]), make_engine(sqlite_url(tmp / f"{name}.sqlite")), w.dep.domain.separator,
                      ChainDeviceDirectory(w.dep, ttl=0), lambda: bytes(w.call(w.dep.anchor.functions.configDigest())))


def anchor_month(w: World, node: OracleNode, month: int, watts: list[int]) -> int:
    """Readings of the first day of ``month`` 2007 (one per minute, W): ingested by ``node`` and
    anchored on-chain by the oracle quorum; the rest of the month is a declared gap with the
    regulator's substitute (issue 12 completeness), so the month can be recorded. Returns the batch id."""
    first_seq = 1 + 10_000 * month
    rs = minute_readings(w.device, MONTH_START[month], watts, first_seq)
    dev = DeviceSigner(w.device, w.device_key, w.dep.domain.separator)
    acks = node.ingest([dev.sign(r) for r in rs])
    assert all(a.status == "accepted" for a in acks), acks[:3]
    batch_id, *_ = anchor_day(w, MONTH_START[month], watts, first_seq=first_seq)
    declare_gap(w, 2007, month, all_days_but([1], calendar.monthrange(2007, month)[1]))
    return int(batch_id)
