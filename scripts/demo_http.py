"""The main job's monthly cycle through the HTTP API, as the three clients would drive it.

The enterprise and the regulator use API keys (custodial: the API signs their transactions);
the verifier uses EIP-712 signed requests and signs its attest/reject transactions itself
(non-custodial) after re-verifying each record with :func:`ledger.verify.provenance.verify_record` — the
same code as ``carbonledger verify``: the API's data checked against the chain.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from api.auth import issue_key, revoke_key, signed_request_headers
from ledger.crypto.primitives import Signer
from ledger.identifiers import org_id
from ledger.records.workflow import sign_verdict
from ledger.store.db import make_engine, sqlite_url
from ledger.verify.provenance import ApiClient, Verdict, verify_record
from scripts.setup_env import PARTICIPANTS, System


@contextmanager
def serve_api(system: System, port: int) -> Iterator[str]:
    """Run the API for ``system`` on 127.0.0.1:``port`` in a background thread."""
    app = create_app(system.dep, make_engine(sqlite_url(system.data_dir / "api.sqlite")), system.oracle_nodes[0],
                     custodial=[system.accounts[n] for n in ("regulator", "enterprise")])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not t.is_alive():
            raise RuntimeError(f"the API did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(timeout=10)


class SignedClient:
    """An httpx client whose every request is EIP-712 signed by ``signer`` (verifier client)."""

    def __init__(self, base: str, signer: Signer, chain_id: int) -> None:
        self.http, self.signer, self.chain_id = httpx.Client(base_url=base, timeout=120), signer, chain_id

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = signed_request_headers(self.signer, self.chain_id, method, path, raw)
        if body is not None:
            headers["content-type"] = "application/json"
        return self.http.request(method, path, content=raw, headers=headers, **kw)


def _ok(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:500]}")
    return r.json()


def _pages(get: Any, path: str, limit: int = 200) -> Iterator[dict[str, Any]]:
    cursor = None
    while True:
        sep = "&" if "?" in path else "?"
        body = _ok(get(path + f"{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")))
        yield from body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return


def monthly_cycle_over_http(system: System, months: list[tuple[int, int]], port: int, seed: int | None) -> dict[int, Verdict]:
    """Record → submit → assign → verify → attest/reject → confirm for ``months`` through the API."""
    dep, acc = system.dep, system.accounts
    store = make_engine(sqlite_url(system.data_dir / "api.sqlite"))
    reports: dict[int, Verdict] = {}
    with serve_api(system, port) as base:
        ent_key = issue_key(store, dep, org_id(PARTICIPANTS["enterprise"]["uscc"]), "ENTERPRISE_ROLE", label="demo run")
        reg_key = issue_key(store, dep, org_id(PARTICIPANTS["regulator"]["uscc"]), "REGULATOR_ROLE", label="demo run")
        ent = httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {ent_key}"})
        reg = httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {reg_key}"})
        ver = SignedClient(base, Signer(system.keys["verifier"]), system.client.chain_id)
        try:
            fs = system.factor_set_id()
            have = {(r["year"], r["month"]): r for r in _pages(ent.get, "/v1/enterprise/records")}
            for y, m in months:
                r = have.get((y, m))
                if r is None:
                    resp = ent.post("/v1/enterprise/records", json={"device": "0x" + system.device.hex(), "year": y, "month": m,
                                                                    "factor_set_id": fs, "submit": True},
                                    headers={"Idempotency-Key": f"record-{system.device.hex()[:16]}-{y}-{m:02d}"})
                    if resp.status_code == 409 and resp.json().get("type", "").endswith("no-anchored-data"):
                        continue
                    _ok(resp)
                elif r["status"] == "draft":
                    _ok(ent.post(f"/v1/enterprise/records/{r['record_id']}/submit"))
            for r in _pages(reg.get, "/v1/regulator/records?status=submitted"):
                if int(r["verifier"], 16) == 0:
                    _ok(reg.post(f"/v1/regulator/records/{r['record_id']}/verifier", json={"verifier": acc["verifier"]}))
            rng = random.Random(seed)
            api = ApiClient(base, signer=Signer(system.keys["verifier"]), chain_id=system.client.chain_id)
            for r in _pages(lambda p: ver.request("GET", p), "/v1/verifier/records"):
                if r["status"] != "submitted":
                    continue
                reports[r["record_id"]] = rep = verify_record(dep, None, api, r["record_id"], rng=rng)
                raw = sign_verdict(dep, system.keys["verifier"], r["record_id"], rep.passed, rep.report_hash(), rep.findings_hash())
                _ok(ver.request("POST", f"/v1/verifier/records/{r['record_id']}/verdict", {"raw_transaction": "0x" + raw.hex()}))
            for r in _pages(reg.get, "/v1/regulator/records?status=verified"):
                _ok(reg.post(f"/v1/regulator/records/{r['record_id']}/confirm"))
        finally:
            for k in (ent_key, reg_key):
                revoke_key(store, k.split("_")[1])
    return reports
