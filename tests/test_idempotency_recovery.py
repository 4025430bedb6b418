"""Retries that recover (issue 10): an ``Idempotency-Key`` never stays in progress after the
request that took it has died. Real Anvil, the real API as its own process (``carbonledger api
serve``), stopped at a point the API itself reports (api/idempotency.py TEST_HOOK_ENV: it prints
``IDEMPOTENCY-HOOK <stage> <tx hash>`` and waits for a line on stdin) — never by timing.

The POST under test registers a device (``POST /v1/enterprise/devices``): one transaction whose
effect is countable on-chain (``DeviceRegistered`` events of the device id)."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request

from api.app import create_app
from api.auth import issue_key
from api.completions import COMPLETIONS
from api.idempotency import LEASE_ENV, TEST_HOOK_ENV, _route_of, install, lease_seconds, post_routes, tag
from api.store import IdempotencyRecord
from ledger.chain.client import Call, ChainClient, ChainUnavailable, JournalEntry, journal_tag
from ledger.crypto.primitives import Signer, new_private_key
from ledger.identifiers import device_id, org_id
from ledger.store.db import make_engine, sqlite_url
from oracles.system import PARTICIPANTS, ROOT_FOR_CLI, System
from tests.conftest import free_port

LEASE_S = 2.0
ENTERPRISE_USCC = PARTICIPANTS["enterprise"]["uscc"]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    s = System(tmp_path_factory.mktemp("idem"), port=free_port(), log=lambda m: None).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api_key(system: System) -> str:
    store = make_engine(sqlite_url(system.data_dir / "api.sqlite"), store="api")
    return issue_key(store, system.dep, org_id(ENTERPRISE_USCC), "ENTERPRISE_ROLE")


class ApiProcess:
    """``carbonledger api serve`` in its own process; stdout lines are queued (the hook's reports)."""

    def __init__(self, system: System, hook: str | None = None) -> None:
        self.port = free_port()
        env = {**os.environ, LEASE_ENV: str(LEASE_S)}
        env.pop(TEST_HOOK_ENV, None)
        if hook:
            env[TEST_HOOK_ENV] = hook
        self.proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", "api", "serve", "--data-dir", str(system.data_dir),
                                      "--rpc-url", system.client.rpc_url, "--port", str(self.port)],
                                     cwd=ROOT_FOR_CLI, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while True:       # readiness only; the kill point comes from the hook, not from timing
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("the API process did not start")
            time.sleep(0.2)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def hook_reached(self, stage: str, timeout: float = 120) -> str:
        """Block until the API reports the hook; returns the transaction hash it names."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line.startswith(f"IDEMPOTENCY-HOOK {stage} "):
                return line.split()[2]

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


class InFlight:
    """A POST sent from a thread (the API blocks it at the hook)."""

    def __init__(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(url, body, headers), daemon=True)
        self.thread.start()

    def _run(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        try:
            self.response = httpx.post(url, json=body, headers=headers, timeout=300)
        except httpx.HTTPError as exc:
            self.error = exc

    def join(self) -> InFlight:
        self.thread.join(timeout=300)
        assert not self.thread.is_alive()
        return self


def device_body(serial: str) -> dict[str, Any]:
    return {"serial": serial, "signer": Signer(new_private_key()).address, "quantity_code": 1}


def registrations(system: System, serial: str) -> int:
    """``DeviceRegistered`` events of the device ``serial`` of the demo enterprise, on-chain."""
    dev = device_id(ENTERPRISE_USCC, serial)
    logs = system.dep.devices.get_logs("DeviceRegistered", system.dep.manifest["deployment_block"], deviceId=dev)
    return len(logs)


def tagged(system: System, api_key: str, key: str) -> list[str]:
    """Hashes the API process journalled under (its caller scope, ``key``)."""
    journal = make_engine(sqlite_url(system.data_dir / "oracles" / "oracle-1-journal.sqlite"), store="journal")
    with Session(journal) as s:
        return list(s.scalars(select(JournalEntry.tx_hash).where(JournalEntry.idempotency_key == tag(f"api-key:{api_key.split('_')[1]}", key))))


def idempotency_row(system: System, key: str) -> IdempotencyRecord:
    with Session(make_engine(sqlite_url(system.data_dir / "api.sqlite"), store="api")) as s:
        rec = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == key)).one()
        s.expunge(rec)
    return rec


def headers(api_key: str, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "Idempotency-Key": key}


def problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["type"] == f"/v1/problems/{slug}", body
    return body


def after_lease(http: httpx.Client, url: str, body: dict[str, Any], h: dict[str, str]) -> httpx.Response:
    """POST, waiting out ``idempotency-in-progress`` answers by their Retry-After (a dead
    request's lease runs out at most LEASE_S after its last renewal)."""
    for _ in range(10):
        r = http.post(url, json=body, headers=h)
        if r.status_code != 409 or r.json()["type"] != "/v1/problems/idempotency-in-progress":
            return r
        time.sleep(float(r.headers["Retry-After"]))
    raise AssertionError("the key stayed in progress")


# ------------------------------------------------------------------ configuration and mapping (no chain)
def test_an_unreachable_chain_node_raises_chain_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ChainUnavailable, match="unreachable: ConnectError"):
        ChainClient(f"http://127.0.0.1:{free_port()}", make_engine(sqlite_url(tmp_path / "j.sqlite"), store="journal"))


@pytest.mark.parametrize("value", ["0", "0.1", "7200", "soon"])
def test_the_lease_refuses_a_bad_setting(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LEASE_ENV, value)
    with pytest.raises(ValueError):
        lease_seconds()
    with pytest.raises(ValueError):
        install(FastAPI(), None, {})   # type: ignore[arg-type] - refused before the client is used


def test_the_test_hook_refuses_an_unknown_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LEASE_ENV, raising=False)
    monkeypatch.setenv(TEST_HOOK_ENV, "mined")
    with pytest.raises(ValueError, match="must be one of"):
        install(FastAPI(), None, {})   # type: ignore[arg-type]


# ------------------------------------------------------------------ in process: the catch-all handler
def test_an_unexpected_error_answers_a_500_problem_without_the_trace_and_releases_the_key(
        system: System, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_engine(sqlite_url(system.data_dir / "api.sqlite"), store="api")
    app = create_app(system.dep, store, None, custodial=[system.accounts["enterprise"]])
    http = TestClient(app, raise_server_exceptions=False)    # first in the module: the test process's client signs here
    body, h = device_body("boom"), headers(api_key, "dev-boom")
    monkeypatch.setattr("api.devices._org_uscc", lambda *a: (_ for _ in ()).throw(RuntimeError("secret internals 0xdeadbeef")))
    r = http.post("/v1/enterprise/devices", json=body, headers=h)
    p = problem(r, 500, "internal-error")                  # type: ignore[arg-type]
    assert "secret" not in r.text and "Traceback" not in r.text and "deadbeef" not in json.dumps(p)
    monkeypatch.undo()
    ok = http.post("/v1/enterprise/devices", json=body, headers=h)   # the key was released: a first attempt
    assert ok.status_code == 201, ok.text
    assert registrations(system, "boom") == 1


def dead_request(system: System, store: Any, api_key: str, key: str, path: str, body: dict[str, Any], fn: Any,
                 gas: int | None = None) -> str:
    """What a request that died after sending leaves behind: its key in progress with a lapsed
    lease, and its transaction (``fn`` from the regulator) journalled under the key's tag and sent."""
    scope = f"api-key:{api_key.split('_')[1]}"
    with Session(store) as s, s.begin():
        s.add(IdempotencyRecord(principal=scope, key=key, method_path=f"POST {path}", created_at=int(time.time()),
                                body_sha256=hashlib.sha256(json.dumps(body).encode()).hexdigest(), owner="dead", lease_until_ms=1))
    reset = journal_tag.set(tag(scope, key))
    try:
        system.client.send([Call.of(fn, system.accounts["regulator"], f"dead {key}", gas=gas)], wait=False)
    finally:
        journal_tag.reset(reset)
    [entry] = system.client.tagged_transactions(tag(scope, key))
    return entry.tx_hash


def test_a_takeover_answers_with_the_routes_completion_a_revert_or_the_transactions(system: System) -> None:
    store = make_engine(sqlite_url(system.data_dir / "api.sqlite"), store="api")
    http = TestClient(create_app(system.dep, store, None, custodial=[system.accounts["regulator"]]))
    key = issue_key(store, system.dep, org_id(PARTICIPANTS["regulator"]["uscc"]), "REGULATOR_ROLE")
    assets = system.dep.assets.functions
    victim = Signer(new_private_key()).address
    body = {"account": victim, "frozen": True, "reason": "court order 7"}

    def post(path: str, b: dict[str, Any], k: str) -> httpx.Response:
        return http.post(path, content=json.dumps(b).encode(),
                         headers={**headers(key, k), "content-type": "application/json"})

    tx = dead_request(system, store, key, "freeze-dead", "/v1/regulator/freezes", body, assets.freeze(victim, "court order 7"))
    r = post("/v1/regulator/freezes", body, "freeze-dead")
    assert r.status_code == 200 and r.headers["Idempotency-Recovered"] == "true", r.text
    assert r.json() == {"account": victim, "frozen": True, "reason": "court order 7", "tx_hash": tx}
    assert system.client.call(assets.isFrozen(victim)) is True
    # the dead request's transaction reverted (sent with its own gas, no pre-flight): answered as the handler would
    tx2 = dead_request(system, store, key, "freeze-again", "/v1/regulator/freezes", body, assets.freeze(victim, "court order 7"),
                       gas=200_000)
    p = problem(post("/v1/regulator/freezes", body, "freeze-again"), 409, "contract-refused")
    assert p["error"] == "FreezeUnchanged" and [t["tx_hash"] for t in p["transactions"]] == [tx2]
    problem(post("/v1/regulator/freezes", body, "freeze-again"), 409, "contract-refused")     # stored
    # a route without a completion: its transaction is finished, the answer names it
    pub = "0x" + X25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    tx3 = dead_request(system, store, key, "key-dead", "/v1/evidence/encryption-key", {"public_key": pub},
                       system.dep.participants.functions.setEncryptionKey(bytes.fromhex(pub[2:])))
    p = problem(post("/v1/evidence/encryption-key", {"public_key": pub}, "key-dead"), 409, "idempotency-unanswerable")
    assert [(t["tx_hash"], t["status"]) for t in p["transactions"]] == [(tx3, 1)]


def test_every_completion_belongs_to_a_post_route_of_the_app(system: System) -> None:
    app = create_app(system.dep, make_engine(sqlite_url(system.data_dir / "api.sqlite"), store="api"), None)
    served = {}
    for endpoint in COMPLETIONS:
        paths = [r.path for r in post_routes(app) if r.endpoint is endpoint]
        assert len(paths) == 1, f"{endpoint.__module__}.{endpoint.__name__} has a completion but {len(paths)} POST routes"
        path = paths[0].replace("{record_id}", "7").replace("{device_id}", "0x" + "ab" * 32).replace("{year}", "2021").replace("{claim_id}", "7")
        route, params = _route_of(Request({"type": "http", "method": "POST", "path": path, "app": app, "headers": []}))
        assert route is not None and route.endpoint is endpoint, path
        served[path] = params
    assert len(served) == len(COMPLETIONS) == 27
    assert served["/v1/enterprise/records/7/submit"] == {"record_id": "7"}


# ------------------------------------------------------------------ chain node down
def test_a_chain_outage_before_the_request_answers_503_and_frees_the_key(system: System, api_key: str) -> None:
    api = ApiProcess(system)
    body, h = device_body("outage-before"), headers(api_key, "dev-outage-before")
    try:
        assert system.node is not None
        system.node.stop()
        with httpx.Client(base_url=api.url, timeout=120) as http:
            problem(http.post("/v1/enterprise/devices", json=body, headers=h), 503, "chain-unavailable")
            system.node.start()
            r = http.post("/v1/enterprise/devices", json=body, headers=h)          # not 409: the key was released
            assert r.status_code == 201, r.text
            assert "Idempotency-Recovered" not in r.headers                         # nothing to finish: a first attempt
            again = http.post("/v1/enterprise/devices", json=body, headers=h)
            assert again.json() == r.json() and again.headers["Idempotency-Replayed"] == "true"
    finally:
        system.node.start()
        api.kill()
    assert registrations(system, "outage-before") == 1


def test_chain_node_stopped_mid_request_answers_503_then_the_retry_finishes_it_once(system: System, api_key: str) -> None:
    assert system.node is not None
    system.node.snapshot()                              # the node will come back without the request's transaction
    api = ApiProcess(system, hook="sent")
    body, h = device_body("outage-mid"), headers(api_key, "dev-outage-mid")
    try:
        flight = InFlight(f"{api.url}/v1/enterprise/devices", body, h)
        tx = api.hook_reached("sent")                   # journalled and accepted by the node; the request waits
        with httpx.Client(base_url=api.url, timeout=120) as http:
            time.sleep(LEASE_S * 1.5)                   # longer than a lease: a live request keeps renewing it
            busy = problem(http.post("/v1/enterprise/devices", json=body, headers=h), 409, "idempotency-in-progress")
            assert busy["retry_after_s"] >= 1
            system.node.kill()                          # the chain node dies mid-request
            api.release()
            problem(flight.join().response, 503, "chain-unavailable")    # type: ignore[arg-type]
            # not stuck: with the node still down the retry is answered 503 again, not 409 in-progress
            problem(http.post("/v1/enterprise/devices", json=body, headers=h), 503, "chain-unavailable")
            system.node.start()                         # back from the snapshot taken before the request
            assert system.client.rpc("eth_getTransactionByHash", tx) is None
            r = http.post("/v1/enterprise/devices", json=body, headers=h)
            assert r.status_code == 201, r.text
            assert r.headers["Idempotency-Recovered"] == "true"
            assert r.json()["tx_hash"] == tx            # the journalled bytes, re-sent — not a new transaction
            assert r.json()["device_id"] == "0x" + device_id(ENTERPRISE_USCC, "outage-mid").hex()
            again = http.post("/v1/enterprise/devices", json=body, headers=h)
            assert again.json() == r.json() and again.headers["Idempotency-Replayed"] == "true"
    finally:
        system.node.start()
        api.kill()
    assert registrations(system, "outage-mid") == 1
    assert tagged(system, api_key, "dev-outage-mid") == [tx]


# ------------------------------------------------------------------ API process killed
def test_an_api_killed_after_journalling_is_finished_by_the_retry_once(system: System, api_key: str) -> None:
    body, h = device_body("api-killed"), headers(api_key, "dev-api-killed")
    api = ApiProcess(system, hook="journalled")
    try:
        flight = InFlight(f"{api.url}/v1/enterprise/devices", body, h)
        tx = api.hook_reached("journalled")             # in the journal, never sent
        api.kill()                                      # SIGKILL mid-request
        assert flight.join().error is not None
    finally:
        api.kill()
    assert system.client.rpc("eth_getTransactionByHash", tx) is None and registrations(system, "api-killed") == 0
    api = ApiProcess(system)                            # restarted, no hook
    try:
        with httpx.Client(base_url=api.url, timeout=120) as http:
            time.sleep(LEASE_S)                         # the dead request's lease has run out
            rec = idempotency_row(system, "dev-api-killed")
            assert rec.status_code is None and (rec.lease_until_ms or 0) < time.time() * 1000
            other = {**body, "serial": "api-killed-2"}
            problem(http.post("/v1/enterprise/devices", json=other, headers=h), 409, "idempotency-conflict")
            forged = {**h, "Authorization": "Bearer clk_" + api_key.split("_")[1] + "_not-the-secret"}
            problem(http.post("/v1/enterprise/devices", json=body, headers=forged), 401, "unauthenticated")
            assert idempotency_row(system, "dev-api-killed").owner == rec.owner      # neither took the key over
            r = after_lease(http, "/v1/enterprise/devices", body, h)
            assert r.status_code == 201, r.text
            assert r.headers["Idempotency-Recovered"] == "true" and r.json()["tx_hash"] == tx
            assert r.json()["device_id"] == "0x" + device_id(ENTERPRISE_USCC, "api-killed").hex()
            assert r.json()["status"] == "active" and r.json()["signer"] == body["signer"]
            again = http.post("/v1/enterprise/devices", json=body, headers=h)
            assert again.json() == r.json() and again.headers["Idempotency-Replayed"] == "true"
            problem(http.post("/v1/enterprise/devices", json=other, headers=h), 409, "idempotency-conflict")
    finally:
        api.kill()
    assert registrations(system, "api-killed") == 1 and registrations(system, "api-killed-2") == 0
    assert tagged(system, api_key, "dev-api-killed") == [tx]


def test_an_api_killed_after_sending_answers_the_retry_from_the_receipt(system: System, api_key: str) -> None:
    body, h = device_body("api-killed-sent"), headers(api_key, "dev-api-killed-sent")
    api = ApiProcess(system, hook="sent")
    try:
        flight = InFlight(f"{api.url}/v1/enterprise/devices", body, h)
        tx = api.hook_reached("sent")                   # mined (automine) before any answer
        api.kill()
        assert flight.join().error is not None
    finally:
        api.kill()
    assert registrations(system, "api-killed-sent") == 1
    api = ApiProcess(system)
    try:
        with httpx.Client(base_url=api.url, timeout=120) as http:
            r = after_lease(http, "/v1/enterprise/devices", body, h)
            assert r.status_code == 201 and r.headers["Idempotency-Recovered"] == "true", r.text
            assert r.json()["tx_hash"] == tx
    finally:
        api.kill()
    assert registrations(system, "api-killed-sent") == 1
