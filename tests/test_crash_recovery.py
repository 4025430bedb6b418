"""SIGKILL of an oracle node process, and separately of the chain node, mid-run: no
acknowledged reading or journalled transaction is lost and no batch is anchored twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.chain.client import Call
from ledger.store.db import make_engine, sqlite_url
from oracles.device import DeviceSigner
from oracles.store import StoredReading
from oracles.submitter import Submitter
from oracles.system import ROOT_FOR_CLI, System
from oracles.uci import load_uci
from tests.conftest import free_port

DAYS = (date(2007, 1, 1), date(2007, 1, 4))


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory):
    s = System(tmp_path_factory.mktemp("crash"), port=free_port(), log=lambda m: None).start()
    yield s
    s.stop()


def _signed(system: System) -> list[dict]:
    series = load_uci(start=DAYS[0], end=DAYS[1])
    dev = DeviceSigner(system.device, system.device_key, system.dep.domain.separator)
    return [sr.to_json() for sr in dev.sign_minutes(series.readings)]


def _start_oracle(system: System, port: int) -> subprocess.Popen[bytes]:
    p = subprocess.Popen([sys.executable, "-m", "scripts.cli", "oracle", "serve", "--name", "oracle-2",
                          "--data-dir", str(system.data_dir), "--rpc-url", system.client.rpc_url, "--port", str(port)],
                         cwd=ROOT_FOR_CLI, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return p
        except httpx.HTTPError:
            time.sleep(0.2)
    p.kill()
    raise RuntimeError("oracle node did not start")


def test_sigkill_of_an_oracle_node_loses_no_acknowledged_reading(system: System) -> None:
    readings = _signed(system)
    port = free_port()
    proc = _start_oracle(system, port)
    acked: list[int] = []
    try:
        with httpx.Client(timeout=30) as http:
            for i, lo in enumerate(range(0, len(readings), 200)):
                if i == 5:   # SIGKILL while the sixth batch is in flight
                    threading.Timer(0.02, lambda: os.kill(proc.pid, signal.SIGKILL)).start()
                try:
                    r = http.post(f"http://127.0.0.1:{port}/v1/readings", json={"readings": readings[lo:lo + 200]})
                except httpx.HTTPError:
                    break
                acked += [x["sequence"] for x in r.json()["results"] if x["status"] in ("accepted", "duplicate")]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert 0 < len(acked) < len(readings), "the kill must land mid-ingestion"
    store = make_engine(sqlite_url(system.data_dir / "oracles" / "oracle-2.sqlite"))
    with Session(store) as s:
        have = set(s.scalars(select(StoredReading.sequence)))
    assert set(acked) <= have                       # every acknowledged reading survived
    proc = _start_oracle(system, port)              # restart and resend everything
    try:
        statuses: dict[str, int] = {}
        with httpx.Client(timeout=60) as http:
            for lo in range(0, len(readings), 1000):
                for x in http.post(f"http://127.0.0.1:{port}/v1/readings", json={"readings": readings[lo:lo + 1000]}).json()["results"]:
                    statuses[x["status"]] = statuses.get(x["status"], 0) + 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert statuses.get("rejected", 0) == 0
    assert statuses.get("duplicate", 0) >= len(acked)
    with Session(store) as s:
        assert s.scalar(select(func.count()).select_from(StoredReading)) == len(readings)


def test_sigkill_of_the_chain_node_loses_no_journalled_transaction_and_anchors_nothing_twice(system: System) -> None:
    series = load_uci(start=DAYS[0], end=DAYS[1])
    dev = DeviceSigner(system.device, system.device_key, system.dep.domain.separator)
    signed = list(dev.sign_minutes(series.readings))
    for n in system.oracle_nodes:
        n.ingest(signed)
    a = system.dep.anchor
    before = int(system.client.call(a.functions.batchCount()))
    system.node.snapshot()                                       # last good snapshot: before anchoring
    days = [(s, s + 86_400) for s in (1_167_606_000 + k * 86_400 for k in range(3))]
    sub = Submitter(system.client, a, system.accounts["oracle-1"], system.dep.quorum)
    out = sub.anchor_periods(system.oracle_nodes, system.device, days[:2])
    assert [o.status for o in out] == ["anchored", "anchored"]
    # the third day's anchor is signed and journalled, then the node dies before mining it
    third = sub.collect(system.oracle_nodes, system.device, *days[2])
    system.client.send([Call.of(a.functions.anchor(third.report, third._signatures), system.accounts["oracle-1"])], wait=False)
    system.node.kill()                                           # SIGKILL
    system.node.start()                                          # back from the older snapshot
    assert int(system.client.call(a.functions.batchCount())) == before
    resent = system.client.recover()
    assert resent >= 3
    assert int(system.client.call(a.functions.batchCount())) == before + 3
    again = sub.anchor_periods(system.oracle_nodes, system.device, days)
    assert [o.status for o in again] == ["already_anchored"] * 3
    assert int(system.client.call(a.functions.batchCount())) == before + 3
