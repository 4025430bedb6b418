"""The HTTP API: ingestion, audit provenance, and RFC 9457 problem details on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import issue_key
from ledger.crypto.primitives import keccak256
from ledger.identifiers import org_id
from ledger.store.db import make_engine, sqlite_url
from oracles.device import DeviceSigner
from oracles.node import SignedReading
from oracles.submitter import Submitter
from tests.conftest import USCC, World
from tests.helpers import DAY0, all_days_but, declare_gap, minute_readings
from tests.test_oracle_node import make_node


@pytest.fixture(params=["sqlite", "postgresql"])
def setup(request: pytest.FixtureRequest, chain: World, tmp_path: Path):
    node1, node2 = make_node(chain, tmp_path, "oracle-1"), make_node(chain, tmp_path, "oracle-2")
    store = make_engine(sqlite_url(tmp_path / "api.sqlite") if request.param == "sqlite" else request.getfixturevalue("fresh_pg_url"))
    http = TestClient(create_app(chain.dep, store, node1))
    http.headers["Authorization"] = "Bearer " + issue_key(store, chain.dep, org_id(USCC["regulator"]), "REGULATOR_ROLE")
    return chain, node1, node2, http


def _wire(w: World, watts: list[int], start: int = DAY0, first_seq: int = 1) -> list[dict]:
    dev = DeviceSigner(w.device, w.device_key, w.dep.domain.separator)
    return [dev.sign(r).to_json() for r in minute_readings(w.device, start, watts, first_seq)]


def test_post_readings_acknowledges_each_reading(setup) -> None:
    w, _, _, http = setup
    body = _wire(w, [100, 200])
    bad = dict(body[1], sequence=3, start=body[1]["end"], end=body[1]["end"] + 60)   # signature no longer matches
    r = http.post("/v1/readings", json={"readings": [*body, bad]})
    assert r.status_code == 200
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (2, 1)
    assert out["results"][2]["reason"] == "bad_signature"
    again = http.post("/v1/readings", json={"readings": body}).json()
    assert again["duplicates"] == 2 and again["accepted"] == 0


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d.update(device="0x1234"), "device"),
    (lambda d: d.update(value="many"), "value"),
    (lambda d: d.pop("signature"), "signature"),
    (lambda d: d.update(extra=1), "extra"),
])
def test_post_readings_refuses_a_malformed_body_with_a_problem_naming_the_field(setup, mutate, field: str) -> None:
    w, node, _, http = setup
    d = _wire(w, [100])[0]
    mutate(d)
    r = http.post("/v1/readings", json={"readings": [d]})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    p = r.json()
    assert p["type"] == "/v1/problems/validation-error" and any(field in e["field"] for e in p["errors"])
    assert node.counts(w.device, 0, 2**62) == (0, 0)          # nothing stored or changed


def test_problem_types_are_documented(setup) -> None:
    http = setup[3]
    assert http.get("/v1/problems/validation-error").json()["status"] == 422
    assert http.get("/v1/problems/nope").status_code == 404


def test_audit_serves_proofs_batches_and_record_provenance(setup, tmp_path: Path) -> None:
    w, n1, n2, http = setup
    body = _wire(w, [1_000_000, 2_000_000, 3_000_000])                             # 100,000 Wh
    assert http.post("/v1/readings", json={"readings": body}).status_code == 200     # node 1 over HTTP
    n2.ingest([SignedReading.from_json(x) for x in body])                           # node 2 in-process
    n3 = make_node(w, tmp_path, "oracle-3")                                        # the quorum is 3 of 4
    n3.ingest([SignedReading.from_json(x) for x in body])                           # node 3 in-process
    sub = Submitter(w.client, w.dep.anchor, w.acct["oracle-1"], w.dep.quorum)
    [out] = sub.anchor_periods([n1, n2, n3], w.device, [(DAY0, DAY0 + 86_400)])
    assert out.status == "anchored"
    proof = http.get(f"/v1/audit/readings/0x{w.device.hex()}/2/proof").json()
    assert proof["verified_on_chain"] is True and proof["batch_id"] == out.batch_id
    batch = http.get(f"/v1/audit/batches/{out.batch_id}").json()
    assert set(batch["signers"]) == {w.acct[f"oracle-{i}"] for i in (1, 2, 3)} and batch["totalWh"] == 100_000
    em = w.dep.emissions.functions
    declare_gap(w, 2007, 1, all_days_but([1]))                                     # 2–31 January: declared gap, 1,000 Wh
    w.tx(em.recordPurchasedElectricity(w.device, 2007, 1, 0, 0, w.factor_set, keccak256(b"e"), 0), "enterprise")
    rid = w.call(em.currentRecord(org_id(USCC["enterprise"]), 1, w.device, 2007, 1))
    rec = http.get(f"/v1/audit/records/{rid}").json()
    assert rec["activityAmount"] == 101_000 and rec["emissionsKg"] == 58 and rec["status"] == "draft"   # ⌊101,000 × 5703 / 10^7 + ½⌋
    assert rec["factor_set"]["citation"] == "环办气候函〔2023〕43号"
    assert [h["event"] for h in rec["history"]] == ["ActivityRecorded"]
    assert rec["batches"][0]["root"] == "0x" + out.report.root.hex()


def test_audit_answers_unknown_ids_with_not_found_problems(setup) -> None:
    w, _, _, http = setup
    for url in ("/v1/audit/batches/999", "/v1/audit/records/999", f"/v1/audit/readings/0x{w.device.hex()}/5/proof"):
        r = http.get(url)
        assert r.status_code == 404 and r.json()["type"] == "/v1/problems/not-found", url
    assert http.get("/v1/audit/batches/0").status_code == 422


def test_openapi_schema_is_served(setup) -> None:
    paths = setup[3].get("/openapi.json").json()["paths"]
    assert {"/v1/readings", "/v1/audit/batches/{batch_id}", "/v1/audit/records/{record_id}"} <= set(paths)


def test_record_provenance_needs_credentials(setup) -> None:
    http = setup[3]
    r = http.get("/v1/audit/records/1", headers={"Authorization": ""})
    assert r.status_code == 401 and r.json()["type"] == "/v1/problems/unauthenticated"
