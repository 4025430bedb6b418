"""The oracle node's own HTTP app (scripts/oracle_node.py create_node_app): it ingests readings,
serves a stored reading's proof that MeterDataAnchor accepts on-chain, and serves none of the
participants' API (records, keys, portal). The node processes of a cluster:
tests/test_oracle_network.py."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from api.readings import INGEST_PATH_HEADER
from oracles.device import DeviceSigner
from scripts.oracle_node import create_node_app
from tests.conftest import World
from tests.helpers import minute_readings
from tests.live_server import MONTH_START, serving_node
from tests.test_contracts import anchor_day

WATTS = [800_000, 820_000, 790_000, 805_000, 810_000, 799_000]
FIRST_SEQ = 70_001


def test_a_node_app_ingests_and_proves_readings_and_serves_nothing_else(chain: World, tmp_path: Path) -> None:
    w = chain
    node = serving_node(w, tmp_path)
    http = TestClient(create_node_app(w.dep, node))
    start = MONTH_START[3]
    dev = DeviceSigner(w.device, w.device_key, w.dep.domain.separator)
    signed = [dev.sign(r).to_json() for r in minute_readings(w.device, start, WATTS, FIRST_SEQ)]
    # the first half as a compact body (decoded and checked in the node's workers), then all of
    # them with spaces (the ordinary path, pydantic-validated): the same answers
    compact = json.dumps({"readings": signed[:3]}, separators=(",", ":")).encode()
    r = http.post("/v1/readings", content=compact, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["accepted"] * 3
    assert r.headers[INGEST_PATH_HEADER] == "raw"
    r = http.post("/v1/readings", content=json.dumps({"readings": signed}).encode(), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers[INGEST_PATH_HEADER] == "parsed"
    assert [x["status"] for x in r.json()["results"]] == ["duplicate"] * 3 + ["accepted"] * (len(WATTS) - 3)
    r = http.post("/v1/readings", content=compact, headers={"content-type": "application/json"})
    assert r.json()["duplicates"] == 3

    device = "0x" + w.device.hex()
    assert http.get(f"/v1/oracle/proofs/{device}/{FIRST_SEQ + 2}").status_code == 404     # not batched yet
    rep = node.build_report(w.device, start, start + 86_400)
    assert rep is not None
    batch_id, *_ = anchor_day(w, start, WATTS, first_seq=FIRST_SEQ)                       # the quorum anchors the same root
    node.mark_anchored(w.device, start, rep.report.config_digest, int(batch_id))
    got = http.get(f"/v1/oracle/proofs/{device}/{FIRST_SEQ + 2}")
    assert got.status_code == 200, got.text
    p = got.json()
    assert p["batch_id"] == int(batch_id) and p["reading"]["value"] == WATTS[2]
    x = p["reading"]
    tup = (bytes.fromhex(x["device"][2:]), x["sequence"], x["start"], x["end"], x["quantityCode"], x["value"], x["scale"], x["flags"])
    proof = [bytes.fromhex(h[2:]) for h in p["proof"]]
    sig = bytes.fromhex(p["signature"][2:])
    assert w.call(w.dep.anchor.functions.verifyReading(int(batch_id), tup, sig, proof)) is True
    assert http.get(f"/v1/oracle/proofs/{device}/1").status_code == 404                   # never received
    assert http.get("/v1/oracle/proofs/0x12/1").status_code == 422

    for path in ("/v1/enterprise/records", "/v1/verifier/records", "/v1/audit/records/1", "/portal/login",
                 "/v1/oracle/info", "/v1/oracle/conflicts"):                                # no cluster: no peer routes
        assert http.get(path).status_code == 404, path
    assert http.get("/v1/health").json()["oracle_node"] == node.name
