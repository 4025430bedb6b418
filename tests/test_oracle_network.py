"""The oracle network as independent processes, n = 4, quorum 3 (f = 1): a lying node is outvoted
and reported, a node down does not stop anchoring, SIGKILL of the submitting node mid-round
loses no acknowledged reading and anchors nothing twice, late readings supersede with a reason,
MQTT ingestion with QoS 1 de-duplicates redeliveries. Readings are synthetic one-minute readings
of the demo meter (a few hundred), signed by its device key; the chain is a real Anvil.
(The SIGKILL tests of one ingesting node and of the chain node are in test_crash_recovery.py.)"""

from __future__ import annotations

import concurrent.futures as cf
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ledger.chain.client import ContractRevert
from ledger.store.db import make_engine, sqlite_url
from oracles.cluster import NODE_MODULE, ClusterProcesses, configure_oracles, ensure_oracle_keys, start_cluster
from oracles.device import DeviceSigner
from oracles.mqtt import HOLD_ENV as MQTT_HOLD_ENV
from oracles.mqtt import acks_topic, publish_readings
from oracles.network import Cluster, RemoteNode
from oracles.store import StoredReading
from oracles.submitter import HOLD_ENV, Submitter
from oracles.system import PROJECT_ROOT, System
from scripts.oracles_up import oracles_app
from tests.conftest import free_port, unavailable
from tests.helpers import DAY0, minute_readings
from tests.oracle_doubles import LYING_NODE_MODULE

pytestmark = pytest.mark.timeout(1200)   # four node processes and the broker (may apt-get install mosquitto)
NAMES = [f"oracle-{i}" for i in range(1, 5)]
PERIOD = 600          # 10-minute batches: rotation index = start // 600
TAKEOVER_S = 1.0


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("oraclenet")
    system = System(d, port=free_port(), log=lambda m: None).start()
    keys = ensure_oracle_keys(d, NAMES)
    configure_oracles(system.client, system.dep, system.accounts["regulator"], keys, 1)
    broker = Path(f"/tmp/cl-mosquitto-{free_port()}")
    mqtt: str | None = None
    why = ""
    try:
        port = subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "mosquitto.sh"), "start", str(broker)],
                              check=True, capture_output=True, text=True, timeout=300).stdout.strip()
        mqtt = f"127.0.0.1:{port}"
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        why = f"mosquitto could not be started: {getattr(exc, 'stderr', exc)}"
    cluster = start_cluster(d, system.client.rpc_url, keys, {n: free_port() for n in NAMES}, mqtt=mqtt,
                            node_modules={"oracle-4": LYING_NODE_MODULE}, takeover_s=TAKEOVER_S, chunk=4)
    dev = DeviceSigner(system.device, system.device_key, system.dep.domain.separator)
    try:
        yield {"system": system, "cluster": cluster, "dev": dev, "mqtt": mqtt, "why": why, "dir": d}
    finally:
        cluster.stop()
        if mqtt:
            subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "mosquitto.sh"), "stop", str(broker)], check=False)
        system.stop()


def _post_readings(cluster: ClusterProcesses, names: list[str], signed: list[Any]) -> dict[str, set[int]]:
    """POST the readings to each node; the sequences each acknowledged (accepted/duplicate)."""
    acked: dict[str, set[int]] = {}
    body = {"readings": [s.to_json() for s in signed]}
    for n in names:
        r = httpx.post(cluster.url(n) + "/v1/readings", json=body, timeout=60)
        r.raise_for_status()
        acked[n] = {x["sequence"] for x in r.json()["results"] if x["status"] in ("accepted", "duplicate")}
    return acked


def _round(cluster: ClusterProcesses, names: list[str], device: bytes, periods: list[tuple[int, int]],
           timeout: float = 60) -> dict[str, Any]:
    """Trigger the round on every named node at once; each node's outcomes (or the error)."""
    def one(n: str) -> tuple[str, Any]:
        try:
            r = httpx.post(cluster.url(n) + "/v1/oracle/anchor",
                           json={"device": "0x" + device.hex(), "periods": [list(p) for p in periods]}, timeout=timeout)
            r.raise_for_status()
            return n, r.json()
        except httpx.HTTPError as exc:
            return n, exc
    with cf.ThreadPoolExecutor(len(names)) as ex:
        return dict(ex.map(one, names))


def _periods(first: int, k: int) -> list[tuple[int, int]]:
    return [(first + i * PERIOD, first + (i + 1) * PERIOD) for i in range(k)]


def _stored(d: Path, name: str) -> set[int]:
    with Session(make_engine(sqlite_url(d / "oracles" / f"{name}.sqlite"))) as s:
        return set(s.scalars(select(StoredReading.sequence)))


def _chain_batches(system: System, device: bytes, periods: list[tuple[int, int]]) -> list[int]:
    a = system.dep.anchor.functions
    return [int(system.client.call(a.batchIdByStart(device, s))) for s, _ in periods]


def test_a_lying_node_is_outvoted_and_its_conflicting_signature_is_reported(net: dict[str, Any]) -> None:
    system, cluster, dev = net["system"], net["cluster"], net["dev"]
    periods = _periods(DAY0, 3)
    signed = [dev.sign(r) for r in minute_readings(system.device, DAY0, [500 + i for i in range(30)], first_seq=1)]
    _post_readings(cluster, NAMES, signed)
    before = int(system.client.call(system.dep.anchor.functions.batchCount()))
    out = _round(cluster, NAMES, system.device, periods)
    assert all(isinstance(v, list) for v in out.values()), out
    ids = _chain_batches(system, system.device, periods)
    assert all(ids) and int(system.client.call(system.dep.anchor.functions.batchCount())) == before + 3   # once each
    for bid in ids:
        b = system.client.call(system.dep.anchor.functions.batch(bid))
        assert b.count == 10                                       # count: the honest readings
    # the liar's signed reports are kept as evidence by the submitter(s), naming node and period
    liar = cluster.nodes["oracle-4"].address
    evidence = [c for n in NAMES[:3] for c in httpx.get(cluster.url(n) + "/v1/oracle/conflicts").json()]
    assert {(c["node"], c["signer"], c["start"]) for c in evidence} >= {("oracle-4", liar, s) for s, _ in periods}
    assert all(c["signedRoot"] != c["quorumRoot"] for c in evidence)
    statuses = [o["status"] for v in out.values() for o in v]
    assert statuses.count("anchored") == 3 and set(statuses) <= {"anchored", "already_anchored"}


def test_one_node_down_does_not_stop_anchoring(net: dict[str, Any]) -> None:
    system, cluster, dev = net["system"], net["cluster"], net["dev"]
    # the liar comes back honest; then an honest node goes down
    cluster.kill("oracle-4")
    n4 = cluster.nodes["oracle-4"]
    n4.module = NODE_MODULE
    cluster.restart("oracle-4")
    first = DAY0 + 3 * PERIOD
    periods = _periods(first, 3)
    signed = [dev.sign(r) for r in minute_readings(system.device, first, [700] * 30, first_seq=31)]
    _post_readings(cluster, NAMES, signed)
    primary = NAMES[(first // PERIOD) % 4]
    cluster.kill(primary)
    try:
        up = [n for n in NAMES if n != primary]
        out = _round(cluster, up, system.device, periods)
        assert all(isinstance(v, list) for v in out.values()), out
        assert all(_chain_batches(system, system.device, periods))
        assert sorted(o["status"] for v in out.values() for o in v).count("anchored") == 3
    finally:
        cluster.restart(primary)


def test_sigkill_of_the_submitting_node_mid_round_loses_nothing_and_anchors_nothing_twice(
        net: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The round's primary is killed at a point it reports (oracles.submitter.HOLD_ENV: once the
    first of the round's 4 chunks is on-chain it writes a marker and holds), not by polling the chain."""
    system, cluster, dev = net["system"], net["cluster"], net["dev"]
    first = DAY0 + 6 * PERIOD
    periods = _periods(first, 16)               # 16 periods, anchored 4 per transaction batch
    primary = NAMES[(first // PERIOD) % 4]
    marker = net["dir"] / f"hold-{primary}.json"
    cluster.kill(primary)                       # restarted with the drill hook armed
    monkeypatch.setenv(HOLD_ENV, str(marker))
    cluster.restart(primary)
    monkeypatch.delenv(HOLD_ENV)
    signed = [dev.sign(r) for r in minute_readings(system.device, first, [900 + i % 50 for i in range(160)], first_seq=61)]
    acked = _post_readings(cluster, NAMES, signed)
    assert all(len(v) == 160 for v in acked.values())
    a = system.dep.anchor.functions
    count0 = int(system.client.call(a.deviceBatchCount(system.device)))
    with cf.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(_round, cluster, NAMES, system.device, periods)
        deadline = time.monotonic() + 120
        while not marker.exists():              # the node holds at the reported point until killed
            assert time.monotonic() < deadline and not fut.done(), "the primary never reached its first anchor"
            time.sleep(0.1)
        held = json.loads(marker.read_text())
        assert held["pid"] == cluster.nodes[primary].proc.pid and 1 <= len(held["anchored"]) <= 4   # chunk 1 of 4
        cluster.kill(primary)
        out = fut.result()
    assert isinstance(out[primary], Exception), "the primary died mid-round"
    got = int(system.client.call(a.deviceBatchCount(system.device)))
    assert got - count0 == 16 and all(_chain_batches(system, system.device, periods))
    assert set(held["anchored"]) <= set(_chain_batches(system, system.device, periods))
    # the killed node kept every reading it acknowledged; restarted, it re-sends its journal and
    # a new round finds everything anchored: nothing anchored twice
    assert acked[primary] <= _stored(net["dir"], primary)
    total = int(system.client.call(a.batchCount()))
    cluster.restart(primary)
    again = _round(cluster, NAMES, system.device, periods)
    assert {o["status"] for v in again.values() for o in v} == {"already_anchored"}
    assert int(system.client.call(a.batchCount())) == total
    assert int(system.client.call(a.deviceBatchCount(system.device))) == got


def test_late_readings_go_into_one_correction_batch_that_supersedes_with_a_reason(net: dict[str, Any]) -> None:
    system, cluster, dev = net["system"], net["cluster"], net["dev"]
    first = DAY0 + 22 * PERIOD
    periods = _periods(first, 2)
    rs = minute_readings(system.device, first, [300] * 20, first_seq=221)
    late = rs[5]                                                  # lost in transit, comes after anchoring
    _post_readings(cluster, NAMES, [dev.sign(r) for r in rs if r is not late])
    _round(cluster, NAMES, system.device, periods)
    a = system.dep.anchor.functions
    bid = int(system.client.call(a.batchIdByStart(system.device, first)))
    old = system.client.call(a.batch(bid))
    assert old.count == 9
    res = httpx.post(cluster.url("oracle-1") + "/v1/readings", json={"readings": [dev.sign(late).to_json()]}).json()
    assert (res["results"][0]["status"], res["results"][0]["reason"]) == ("accepted", "late")
    _post_readings(cluster, NAMES[1:], [dev.sign(late)])
    out = _round(cluster, NAMES, system.device, periods)
    fixes = [o for v in out.values() for o in v if o["status"] in ("corrected", "already_corrected")]
    assert [o["status"] for o in fixes].count("corrected") == 1
    cur = int(system.client.call(a.currentBatch(bid)))
    assert cur != bid
    new = system.client.call(a.batch(cur))
    assert new.count == 10 and new.supersedes == bid                   # supersedes the old batch
    assert system.client.call(a.batch(bid)).root == old.root            # the old root stays on-chain
    assert system.client.call(a.batch(bid)).supersededBy == cur
    assert int(system.client.call(a.currentBatch(cur))) == cur          # superseded once
    reason = next(o["reason"] for o in fixes if o["status"] == "corrected")
    assert reason["supersedes"] == bid and reason["count"] == 10


def test_peer_routes_refuse_bad_input(net: dict[str, Any]) -> None:
    url = net["cluster"].url("oracle-1")
    dev = "0x" + net["system"].device.hex()
    assert httpx.post(url + "/v1/oracle/anchor", json={"device": dev, "periods": [[10, 5]]}).status_code == 422
    assert httpx.post(url + "/v1/oracle/anchor", json={"device": "0x12", "periods": [[1, 5]]}).status_code == 422
    assert httpx.post(url + "/v1/oracle/reports", json={"device": dev, "start": 5, "end": 5}).status_code == 422
    assert httpx.post(url + "/v1/oracle/corrections", json={"device": dev, "start": 1, "end": 5, "batchId": 0,
                                                            "anchoredRoot": "0x" + "00" * 32}).status_code == 422


def test_mqtt_readings_are_stored_by_every_node_and_redelivery_never_double_counts(net: dict[str, Any]) -> None:
    if net["mqtt"] is None:
        unavailable(net["why"])
    system, cluster, dev, d = net["system"], net["cluster"], net["dev"], net["dir"]
    first = DAY0 + 30 * PERIOD
    signed = [dev.sign(r) for r in minute_readings(system.device, first, [400] * 120, first_seq=301)]
    host, port = net["mqtt"].split(":")
    cluster.kill("oracle-2")                                 # down while part of the data is published
    publish_readings(host, int(port), signed[:60], batch=20)
    cluster.restart("oracle-2")                              # its persistent session gets the queued messages
    publish_readings(host, int(port), signed[60:], batch=20)
    publish_readings(host, int(port), signed, batch=40)      # everything again (as a redelivery would)
    want = set(range(301, 421))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(want <= _stored(d, n) for n in NAMES):
        time.sleep(0.2)
    for n in NAMES:
        with Session(make_engine(sqlite_url(d / "oracles" / f"{n}.sqlite"))) as s:
            assert s.scalar(select(func.count()).select_from(StoredReading).where(
                StoredReading.sequence >= 301, StoredReading.sequence <= 420)) == 120, n


def test_mqtt_message_redelivered_after_the_node_dies_before_its_puback_is_stored_once(
        net: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A real QoS 1 redelivery: oracle-3 ingests (commits) a message and is SIGKILLed before its
    PUBACK (oracles.mqtt.HOLD_ENV marks the point); restarted with its persistent session, the
    broker sends the message again (the gateway published it once), the node answers `duplicate`
    for every reading and stores each exactly once."""
    if net["mqtt"] is None:
        unavailable(net["why"])
    system, cluster, dev, d = net["system"], net["cluster"], net["dev"], net["dir"]
    host, port = net["mqtt"].split(":")
    node = "oracle-3"
    marker = d / "hold-mqtt.json"
    cluster.kill(node)
    monkeypatch.setenv(MQTT_HOLD_ENV, str(marker))
    cluster.restart(node)
    monkeypatch.delenv(MQTT_HOLD_ENV)
    acks: list[list[dict[str, Any]]] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="")
    subscribed = threading.Event()
    watcher.on_message = lambda _c, _u, m: acks.append(json.loads(m.payload))
    watcher.on_subscribe = lambda *_: subscribed.set()
    watcher.connect(host, int(port), 30)
    watcher.loop_start()
    try:
        watcher.subscribe(acks_topic(system.device.hex(), node), qos=1)
        assert subscribed.wait(10)
        first = DAY0 + 45 * PERIOD               # after the previous test's readings (they end at 42 periods)
        signed = [dev.sign(r) for r in minute_readings(system.device, first, [450] * 30, first_seq=431)]
        want = set(range(431, 461))
        assert publish_readings(host, int(port), signed, batch=30) == 1           # one message, published once
        deadline = time.monotonic() + 60
        while not marker.exists():                 # committed, PUBACK not sent: the node holds here
            assert time.monotonic() < deadline, "oracle-3 never received the message"
            time.sleep(0.1)
        assert json.loads(marker.read_text())["pid"] == cluster.nodes[node].proc.pid
        assert want <= _stored(d, node)            # the ingest committed before the PUBACK
        cluster.kill(node)

        def mine() -> list[list[dict[str, Any]]]:  # answers about this message (not older duplicates)
            return [a for a in acks if {x["sequence"] for x in a} & want]

        assert mine() == []                        # it died before answering
        cluster.restart(node)                      # same client id, clean session off: redelivery
        deadline = time.monotonic() + 60
        while not mine() and time.monotonic() < deadline:
            time.sleep(0.1)
        (answer,) = mine()
        assert sorted(x["sequence"] for x in answer) == sorted(want)
        assert {x["status"] for x in answer} == {"duplicate"}                   # the redelivered copy
    finally:
        watcher.disconnect()
        watcher.loop_stop()
    with Session(make_engine(sqlite_url(d / "oracles" / f"{node}.sqlite"))) as s:
        assert s.scalar(select(func.count()).select_from(StoredReading).where(
            StoredReading.sequence >= 431, StoredReading.sequence <= 460)) == 30
    log = cluster.nodes[node].log.read_text()
    assert "redelivered message" in log


def test_oracles_set_changes_the_set_and_old_reports_are_refused(net: dict[str, Any]) -> None:
    system, cluster, dev = net["system"], net["cluster"], net["dev"]
    d, url = net["dir"], system.client.rpc_url
    first = DAY0 + 50 * PERIOD
    _post_readings(cluster, NAMES, [dev.sign(r) for r in minute_readings(system.device, first, [100] * 10, first_seq=501)])
    peers = [RemoteNode(m) for m in Cluster.load(d / "oracles" / "cluster.json").members]
    sub = Submitter(system.client, system.dep.anchor, system.accounts["oracle-1"], system.dep.quorum,
                    domain_separator=system.dep.domain.separator)
    stale = sub.collect(peers, system.device, first, first + PERIOD)
    assert stale.status == "ready"
    runner = CliRunner()
    # OCR2: a new member in place of oracle-4 (n = 4, f = 1) is a new config digest
    r = runner.invoke(oracles_app, ["set", "--remove", "oracle-4", "--add", "oracle-5", "--data-dir", str(d), "--rpc-url", url])
    assert r.exit_code == 0, r.output
    oset = system.dep.anchor.oracles()
    assert (len(oset.oracles_), oset.quorum, system.dep.anchor.faultTolerance()) == (4, 3, 1)
    with pytest.raises(ContractRevert) as e:
        system.client.transact(system.dep.anchor.functions.anchor(stale.report, stale._signatures),  # type: ignore[attr-defined]
                               system.accounts["oracle-1"])
    assert e.value.error == "StaleConfigDigest"
    bad = runner.invoke(oracles_app, ["set", "--remove", "oracle-5", "--data-dir", str(d), "--rpc-url", url])   # 3 < 3f + 1
    assert bad.exit_code == 2 and "InvalidFaultTolerance" in bad.output
    r = runner.invoke(oracles_app, ["set", "--remove", "oracle-5", "--add", "oracle-4", "--data-dir", str(d), "--rpc-url", url])
    assert r.exit_code == 0, r.output
    out = _round(cluster, NAMES, system.device, [(first, first + PERIOD)])
    assert [o["status"] for v in out.values() for o in v].count("anchored") == 1
