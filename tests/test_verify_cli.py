"""``carbonledger verify`` against a live API (uvicorn on a free port) and the real chain: a real
record from device-signed, oracle-anchored meter data verifies PASS; an API that forges a reading,
the factor or the emissions figure is caught (FAIL naming what was forged); the server-side
verification route runs the same code."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import typer
import uvicorn
from typer.testing import CliRunner

from api.app import create_app
from api.auth import issue_key
from api.client import ApiClient, ApiError
from ledger.accounting.emissions import emissions_kg
from ledger.crypto import envelope as ev
from ledger.crypto.keystore import derive_encryption_key
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import org_id
from ledger.meter_data.reading import Reading, reading_digest
from ledger.records import evidence as evidence_records
from ledger.records import workflow
from ledger.store.db import make_engine, sqlite_url
from ledger.verify.provenance import VerifierError, verify_record
from oracles.device import DeviceSigner
from scripts.verify import verify
from tests.conftest import GRID_EF_SCALED, USCC, World, free_port
from tests.helpers import DAY0, GAP_SUBSTITUTE_WH, all_days_but, minute_readings
from tests.test_contracts import anchor_day
from tests.test_oracle_node import make_node

WATTS = [[1_000 + (i * 37) % 900 for i in range(240)], [2_500 + (i * 53) % 700 for i in range(180)]]
FORGED_SEQ = 17          # the reading the forging API alters (in the first batch)

cli = typer.Typer()
cli.command()(verify)


class Tamper:
    """ASGI wrapper: rewrites the JSON body of responses whose path matches ``pattern`` with
    ``self.fn`` (None = pass through) — a malicious or broken API in front of an honest one."""

    def __init__(self, app: Any) -> None:
        self.app, self.rules = app, []  # type: list[tuple[str, Callable[[Any], None]]]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        rule = next((fn for pat, fn in self.rules if scope["type"] == "http" and re.search(pat, scope["path"])), None)
        if rule is None:
            return await self.app(scope, receive, send)
        start: dict[str, Any] = {}
        body = bytearray()

        async def capture(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                start.update(msg)
            elif msg["type"] == "http.response.body":
                body.extend(msg.get("body", b""))
                if not msg.get("more_body"):
                    data = json.loads(body)
                    if start["status"] < 400:
                        rule(data)
                    out = json.dumps(data).encode()
                    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                    await send({**start, "headers": [*headers, (b"content-length", str(len(out)).encode())]})
                    await send({"type": "http.response.body", "body": out})

        await self.app(scope, receive, capture)


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and t.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(timeout=10)


@pytest.fixture()
def live(chain: World, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Two days of device-signed readings stored by oracle-1's node and anchored by 3 of 4 oracles, the
    January record made from them (submitted, assigned to ``verifier``), the API served by that
    node behind a :class:`Tamper` wrapper; keys, manifest file and the record id."""
    w = chain
    node = make_node(w, tmp_path, "oracle-1")
    dev = DeviceSigner(w.device, w.device_key, w.dep.domain.separator)
    seq = 1
    for i, watts in enumerate(WATTS):
        day = DAY0 + i * 86_400
        acks = node.ingest([dev.sign(r) for r in minute_readings(w.device, day, watts, seq)])
        assert all(a.status == "accepted" for a in acks), acks[:2]
        anchor_day(w, day, watts, first_seq=seq)      # same readings → same root as the node rebuilds
        seq += len(watts)
    ent = org_id(USCC["enterprise"])
    mask = workflow.missing_days(w.dep, ent, w.device, 2007, 1)          # days 3–31: the gap the enterprise declares
    assert mask == all_days_but([1, 2])
    workflow.declare_gap(w.dep, w.acct["enterprise"], w.device, 2007, 1, mask, keccak256(b"outside the two days"))
    workflow.assess_gap(w.dep, w.acct["regulator"], w.device, 2007, 1, GAP_SUBSTITUTE_WH, keccak256(b"substitute"))
    rid = workflow.record_month(w.dep, w.acct["enterprise"], ent, w.device, 2007, 1, w.factor_set)
    workflow.assign_verifier(w.dep, w.acct["regulator"], rid, w.acct["verifier"])
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    app = Tamper(create_app(w.dep, store, node))                        # migrates the API store
    keys = {n: issue_key(store, w.dep, org_id(USCC[n]), role) for n, role in
            [("verifier", "VERIFIER_ROLE"), ("verifier2", "VERIFIER_ROLE"), ("enterprise", "ENTERPRISE_ROLE")]}
    manifest = tmp_path / "deployment.json"
    manifest.write_text(json.dumps(w.dep.manifest))
    key_file = tmp_path / "verifier.key"
    key_file.write_text("0x" + w.keys["verifier"].hex())
    with _serve(app) as url:
        yield {"w": w, "rid": rid, "app": app, "url": url, "keys": keys, "manifest": manifest, "key_file": key_file,
               "tmp": tmp_path}


def run_cli(live: dict[str, Any], *extra: str, key: str | None = None) -> tuple[int, str, dict[str, Any] | None]:
    out = live["tmp"] / "verdict.json"
    out.unlink(missing_ok=True)
    cred = ["--key-file", str(live["key_file"])] if key is None else ["--api-key", key]
    res = CliRunner().invoke(cli, ["--rpc-url", live["w"].client.rpc_url, "--manifest", str(live["manifest"]),
                                   "--api-url", live["url"], *cred, str(live["rid"]), "--json", str(out), "--seed", "7", *extra],
                             terminal_width=220)
    return res.exit_code, res.output, json.loads(out.read_text()) if out.exists() else None


def checks(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in verdict["checks"]}


def failed(verdict: dict[str, Any]) -> set[str]:
    return {c["name"] for c in verdict["checks"] if c["status"] == "fail"}


# ------------------------------------------------------------------ the honest API
@pytest.mark.parametrize("cred", ["key-file", "api-key"])
def test_a_real_record_verifies_pass_through_the_cli(live, cred: str) -> None:
    code, out, v = run_cli(live, key=None if cred == "key-file" else live["keys"]["verifier"])
    assert code == 0, out
    assert v is not None and v["passed"] is True and v["findings"] == [] and v["findings_hash"] == "0x" + "00" * 32
    c = checks(v)
    for name in ("record fields", "batches anchored", "oracle quorum", "device signatures", "Merkle roots",
                 "proofs on-chain", "energy per batch", "declared gap", "activity data", "emission factor", "emissions"):
        assert c[name]["status"] == "pass", (name, c[name])
    assert c["evidence"]["status"] == "pass" and c["evidence"]["expected"].startswith("0 evidence items")
    assert "420 ok" in c["device signatures"]["found"] and "6 accepted" in c["proofs on-chain"]["found"]
    assert "6 valid signatures" in c["oracle quorum"]["found"]            # 2 batches × 3 oracles
    rec = live["w"].dep.emissions.record(live["rid"])
    wh = sum(b["recomputed_wh"] for b in v["batches"])
    assert v["recomputed_wh"] == wh == rec.activityAmount - GAP_SUBSTITUTE_WH > 0          # metered; the record adds the gap's substitute
    assert v["recomputed_kg"] == emissions_kg(wh + GAP_SUBSTITUTE_WH, GRID_EF_SCALED) == rec.emissionsKg
    assert "PASS" in out and "device signatures" in out and "Merkle roots" in out


def test_the_verdict_hash_is_what_the_verifier_attests(live) -> None:
    w = live["w"]
    api = ApiClient(live["url"], signer=Signer(w.keys["verifier"]), chain_id=w.client.chain_id)
    v = verify_record(w.client.rpc_url, w.dep.manifest, api, live["rid"])
    raw = workflow.sign_verdict(w.dep, w.keys["verifier"], live["rid"], v.passed, v.report_hash(), v.findings_hash())
    workflow.relay_verdict(w.dep, w.acct["verifier"], live["rid"], raw)
    rec = w.dep.emissions.record(live["rid"])
    assert rec.status == 3 and rec.verificationReportHash == v.report_hash()   # Verified, report hash on-chain
    again = verify_record(w.client.rpc_url, w.dep.manifest, api, live["rid"])
    assert again.passed                                                   # status now "verified" on both sides


# ------------------------------------------------------------------ a forging API
def _forger(how: str, separator: bytes) -> Callable[[dict], None]:
    other = Signer(new_private_key())

    def forge(data: dict) -> None:
        for x in data["items"]:
            if x["reading"]["sequence"] == FORGED_SEQ:
                d = x["reading"]
                d["value"] += 1                                          # the signature is kept …
                if how == "re-signed":                                   # … or re-made with another key
                    r = Reading(bytes.fromhex(d["device"][2:]), d["sequence"], d["start"], d["end"], d["quantityCode"],
                                d["value"], d["scale"], d["flags"])
                    x["signature"] = "0x" + other.sign_digest(reading_digest(separator, r)).hex()
    return forge


@pytest.mark.parametrize("how", ["value-altered", "re-signed"])
def test_an_api_serving_a_forged_reading_fails_naming_the_reading(live, how: str) -> None:
    live["app"].rules.append((r"/readings$", _forger(how, live["w"].dep.domain.separator)))
    code, out, v = run_cli(live)
    assert code == 1, out
    assert v is not None and v["passed"] is False
    sig = checks(v)["device signatures"]
    assert sig["status"] == "fail" and f"reading {FORGED_SEQ} (batch " in sig["found"], sig
    assert {"device signatures", "Merkle roots"} <= failed(v)
    assert {"record fields", "batches anchored", "oracle quorum", "emission factor"}.isdisjoint(failed(v))
    assert f"reading {FORGED_SEQ}" in out and "FAIL" in out


def test_an_api_omitting_a_reading_fails_the_root_and_count(live) -> None:
    live["app"].rules.append((r"/readings$", lambda d: d["items"].pop(5)))
    code, _, v = run_cli(live)
    assert code == 1 and "Merkle roots" in failed(v)
    assert "239 readings" in checks(v)["Merkle roots"]["found"]


def test_an_api_serving_bad_proofs_fails_the_on_chain_proof_check(live) -> None:
    def forge(data: dict) -> None:
        for x in data["items"]:
            x["proof"] = ["0x" + "11" * 32, *x["proof"][1:]]
    live["app"].rules.append((r"/readings$", forge))
    code, _, v = run_cli(live)
    assert code == 1 and failed(v) == {"proofs on-chain"}
    assert "0 accepted; refused: reading " in checks(v)["proofs on-chain"]["found"]


def _forge_factor(data: dict) -> None:
    data["factorValue"] = 4000
    data["factor_set"]["values"] = [4000]


def _forge_emissions(data: dict) -> None:
    data["emissionsKg"] = data["emissionsKg"] - 1


@pytest.mark.parametrize(("forge", "names"), [
    (_forge_factor, {"record fields", "emission factor"}),
    (_forge_emissions, {"record fields", "emissions"}),
], ids=["factor", "emissions"])
def test_an_api_serving_a_forged_factor_or_emissions_figure_fails(live, forge, names: set[str]) -> None:
    live["app"].rules.append((r"^/v1/audit/records/\d+$", forge))
    code, out, v = run_cli(live)
    assert code == 1, out
    assert failed(v) == names
    fields = checks(v)["record fields"]["found"]
    assert ("factorValue" if "emission factor" in names else "emissionsKg") in fields


def test_an_api_serving_a_forged_batch_root_fails(live) -> None:
    def forge(data: dict) -> None:
        data["items"][0]["root"] = "0x" + "ab" * 32
    live["app"].rules.append((r"/batches$", forge))
    code, _, v = run_cli(live)
    assert code == 1 and failed(v) == {"batches anchored"}


# ------------------------------------------------------------------ refusals and errors
def test_the_cli_cannot_verify_without_the_right_credentials_or_record(live) -> None:
    code, out, v = run_cli(live, key=live["keys"]["verifier2"])          # not the assigned verifier
    assert code == 2 and v is None and "404" in out
    code, out, _ = run_cli(live, key=live["keys"]["enterprise"])          # wrong role
    assert code == 2 and "403" in out
    code, out, _ = run_cli(live, key="clk_0000_nope")
    assert code == 2 and "401" in out
    res = CliRunner().invoke(cli, ["--rpc-url", live["w"].client.rpc_url, "--manifest", str(live["manifest"]),
                                   "--api-url", live["url"], str(live["rid"])])
    assert res.exit_code == 2 and "exactly one of --api-key or --key-file" in res.output


def test_a_manifest_for_another_chain_is_refused(live, tmp_path: Path) -> None:
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({**live["w"].dep.manifest, "chain_id": 1}))
    api = ApiClient(live["url"], api_key=live["keys"]["verifier"])
    with pytest.raises(VerifierError, match="chain 1"):
        verify_record(live["w"].client.rpc_url, bad, api, live["rid"])


# ------------------------------------------------------------------ the server-side route (same code)
def test_the_verification_route_returns_the_same_checks(live) -> None:
    api = ApiClient(live["url"], api_key=live["keys"]["verifier"])
    server = api.server_verdict(live["rid"])
    client = verify_record(live["w"].client.rpc_url, live["manifest"], api, live["rid"])
    assert server["passed"] is True and client.passed
    assert [c["name"] for c in server["checks"]] == [c.name for c in client.checks]
    assert server["recomputed_kg"] == client.recomputed_kg and server["recomputed_wh"] == client.recomputed_wh


def test_the_verification_route_refuses_other_roles_and_unassigned_verifiers(live) -> None:
    for who, status in (("enterprise", 403), ("verifier2", 404)):
        api = ApiClient(live["url"], api_key=live["keys"][who])
        with pytest.raises(ApiError) as e:
            api.server_verdict(live["rid"])
        assert e.value.status == status, e.value
    api = ApiClient(live["url"], api_key=live["keys"]["verifier"])
    for rid, status in ((0, 422), (999, 404)):
        with pytest.raises(ApiError) as e:
            api.server_verdict(rid)
        assert e.value.status == status, e.value


def test_the_cli_reports_an_unknown_record_as_not_verifiable(live) -> None:
    res = CliRunner().invoke(cli, ["--rpc-url", live["w"].client.rpc_url, "--manifest", str(live["manifest"]),
                                   "--api-url", live["url"], "--key-file", str(live["key_file"]), "999"])
    assert res.exit_code == 2 and "could not verify record 999" in res.output


def test_evidence_anchored_on_chain_but_not_served_by_the_api_fails(live) -> None:
    """The enterprise anchored an evidence file's hashes (EvidenceRegistry) that the API does not
    list: the verifier sees the chain's count and flags the API."""

    w = live["w"]
    env = ev.seal(b"fuel purchase invoice 2007-01", {w.acct["enterprise"]: ev.public_key(derive_encryption_key(w.keys["enterprise"]))})
    evidence_records.attach(w.dep, w.acct["enterprise"], live["rid"], env, "invoice")
    code, out, v = run_cli(live)
    assert code == 1, out
    assert failed(v) == {"evidence"} and checks(v)["evidence"]["expected"].startswith("1 evidence items")
