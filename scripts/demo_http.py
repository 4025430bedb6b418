"""The main job's monthly cycle through the HTTP API, as the three clients would drive it (each
with its own :class:`api.client.ApiClient`).

The enterprise and the regulator use API keys (custodial: the API signs their transactions);
the verifier uses EIP-712 signed requests and signs its attest/reject transactions itself
(non-custodial) after re-verifying each record with :func:`ledger.verify.provenance.verify_record` — the
same code as ``carbonledger verify``: the API's data checked against the chain.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from api.app import create_app
from api.auth import issue_key, revoke_key
from api.client import ApiClient, ApiError
from ledger.crypto.primitives import Signer
from ledger.identifiers import org_id
from ledger.records.workflow import sign_verdict
from ledger.store.db import make_engine, sqlite_url
from ledger.verify.provenance import Verdict, verify_record
from oracles.system import PARTICIPANTS, System


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


def monthly_cycle_over_http(system: System, months: list[tuple[int, int]], port: int, seed: int | None) -> dict[int, Verdict]:
    """Record → submit → assign → verify → attest/reject → confirm for ``months`` through the API."""
    dep, acc = system.dep, system.accounts
    store = make_engine(sqlite_url(system.data_dir / "api.sqlite"))
    reports: dict[int, Verdict] = {}
    with serve_api(system, port) as base:
        ent_key = issue_key(store, dep, org_id(PARTICIPANTS["enterprise"]["uscc"]), "ENTERPRISE_ROLE", label="demo run")
        reg_key = issue_key(store, dep, org_id(PARTICIPANTS["regulator"]["uscc"]), "REGULATOR_ROLE", label="demo run")
        ent, reg = ApiClient(base, api_key=ent_key), ApiClient(base, api_key=reg_key)
        ver = ApiClient(base, signer=Signer(system.keys["verifier"]), chain_id=system.client.chain_id)
        try:
            fs = system.factor_set_id()
            have = {(r["year"], r["month"]): r for r in ent.enterprise_records()}
            for y, m in months:
                r = have.get((y, m))
                if r is None:
                    try:
                        ent.create_record(system.device, y, m, fs, submit=True,
                                          idempotency_key=f"record-{system.device.hex()[:16]}-{y}-{m:02d}")
                    except ApiError as exc:
                        if exc.status == 409 and exc.slug == "no-anchored-data":
                            continue
                        raise
                elif r["status"] == "draft":
                    ent.submit_record(r["record_id"])
            for r in reg.regulator_records("submitted"):
                if int(r["verifier"], 16) == 0:
                    reg.assign_verifier(r["record_id"], acc["verifier"])
            rng = random.Random(seed)
            for r in list(ver.assigned_records()):
                if r["status"] != "submitted":
                    continue
                reports[r["record_id"]] = rep = verify_record(dep, None, ver, r["record_id"], rng=rng)
                raw = sign_verdict(dep, system.keys["verifier"], r["record_id"], rep.passed, rep.report_hash(), rep.findings_hash())
                ver.post_verdict_transaction(r["record_id"], raw)
            for r in list(reg.regulator_records("verified")):
                reg.confirm_record(r["record_id"])
        finally:
            for c in (ent, reg, ver):
                c.close()
            for k in (ent_key, reg_key):
                revoke_key(store, k.split("_")[1])
    return reports
