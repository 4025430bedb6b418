"""API platform: identities bound to on-chain roles, scopes, replay protection, idempotency,
pagination, pre-flight refusals and non-custodial verdicts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import AuthError, issue_key, revoke_key, rotate_key
from ledger.accounting.emissions import emissions_kg
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.crypto.requests import sign_request
from ledger.identifiers import org_id
from ledger.records.workflow import sign_verdict
from ledger.store.db import make_engine, sqlite_url
from tests.conftest import GRID_EF_SCALED, USCC, World
from tests.helpers import DAY0
from tests.test_contracts import anchor_day

JAN, FEB, MAR = DAY0, DAY0 + 31 * 86_400, DAY0 + 59 * 86_400
#: The regulator's substitute for each month's declared gap (days 2..end), Wh.
SUBSTITUTE_WH = 1_000


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, chain: World, tmp_path: Path):
    url = sqlite_url(tmp_path / "api.sqlite") if request.param == "sqlite" else request.getfixturevalue("fresh_pg_url")
    store = make_engine(url)
    app = create_app(chain.dep, store, None, custodial=[chain.acct["regulator"], chain.acct["enterprise"], chain.acct["verifier2"]])
    keys = {n: issue_key(store, chain.dep, org_id(USCC[n]), role) for n, role in
            [("enterprise", "ENTERPRISE_ROLE"), ("enterprise2", "ENTERPRISE_ROLE"), ("regulator", "REGULATOR_ROLE"),
             ("verifier", "VERIFIER_ROLE")]}
    for i, start in enumerate((JAN, FEB, MAR)):
        anchor_day(chain, start, [1_000_000 + i, 2_000_000], first_seq=1 + 10 * i)   # 50,000 Wh: 29 kgCO2
    http = TestClient(app)
    for m, days in ((1, 31), (2, 28), (3, 31)):   # only day 1 of each month is anchored: the rest is a declared gap
        gap = {"device": "0x" + chain.device.hex(), "year": 2007, "month": m}
        r = http.post("/v1/enterprise/gaps", json={**gap, "days": list(range(2, days + 1)), "reason_hash": "0x" + "11" * 32},
                      headers=bearer(keys["enterprise"]))
        assert r.status_code == 201, r.text
        r = http.post("/v1/regulator/gaps/assess", json={**gap, "substitute_wh": SUBSTITUTE_WH, "basis_hash": "0x" + "22" * 32},
                      headers=bearer(keys["regulator"]))
        assert r.status_code == 200 and r.json()["substitute_wh"] == SUBSTITUTE_WH, r.text
    return chain, store, http, keys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def month(w: World, m: int, **extra) -> dict:
    return {"device": "0x" + w.device.hex(), "year": 2007, "month": m, "factor_set_id": w.factor_set, **extra}


def signed(w: World, who: str, method: str, path: str, body=None, **kw) -> dict[str, str]:
    raw = json.dumps(body).encode() if body is not None else b""
    h = sign_request(Signer(w.keys[who]), w.client.chain_id, method, path, raw, **kw)
    if body is not None:
        h["content-type"] = "application/json"
    return h


def post_signed(http: TestClient, w: World, who: str, path: str, body: dict):
    raw = json.dumps(body).encode()
    return http.post(path, content=raw, headers=signed(w, who, "POST", path, body))


def problem(r, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == f"/v1/problems/{slug}", r.json()
    return r.json()


# ------------------------------------------------------------------ identities
def test_an_outsider_without_credentials_is_refused(env) -> None:
    _, _, http, _ = env
    problem(http.get("/v1/enterprise/records"), 401, "unauthenticated")
    problem(http.post("/v1/regulator/records/1/confirm"), 401, "unauthenticated")
    problem(http.get("/v1/enterprise/records", headers=bearer("clk_0000_nope")), 401, "unauthenticated")


def test_an_outsider_signing_requests_is_not_a_participant(env) -> None:
    w, _, http, _ = env
    problem(http.get("/v1/verifier/records", headers=signed(w, "outsider", "GET", "/v1/verifier/records")), 403, "participant-not-active")


def test_a_wrong_role_key_is_refused(env) -> None:
    w, _, http, keys = env
    problem(http.post("/v1/enterprise/records", json=month(w, 1), headers=bearer(keys["verifier"])), 403, "wrong-role")
    problem(http.post("/v1/regulator/records/1/confirm", headers=bearer(keys["enterprise"])), 403, "wrong-role")


def test_a_revoked_key_is_refused_at_once_and_rotation_names_the_replacement(env) -> None:
    w, store, http, keys = env
    assert http.get("/v1/enterprise/records", headers=bearer(keys["enterprise"])).status_code == 200
    new = rotate_key(store, w.dep, keys["enterprise"].split("_")[1])
    p = problem(http.get("/v1/enterprise/records", headers=bearer(keys["enterprise"])), 401, "key-revoked")
    assert new.split("_")[1] in p["detail"]
    assert http.get("/v1/enterprise/records", headers=bearer(new)).status_code == 200
    revoke_key(store, new.split("_")[1])
    problem(http.get("/v1/enterprise/records", headers=bearer(new)), 401, "key-revoked")


def test_a_suspended_participant_is_refused_even_with_a_valid_key(env) -> None:
    w, _, http, keys = env
    w.tx(w.dep.participants.functions.suspend(org_id(USCC["enterprise"]), keccak256(b"audit")), "regulator")
    problem(http.get("/v1/enterprise/records", headers=bearer(keys["enterprise"])), 403, "participant-not-active")


def test_issue_key_refuses_a_role_the_organisation_does_not_hold(env) -> None:
    w, store, _, _ = env
    with pytest.raises(AuthError, match="not an active REGULATOR_ROLE"):
        issue_key(store, w.dep, org_id(USCC["enterprise"]), "REGULATOR_ROLE")
    with pytest.raises(AuthError, match="does not belong"):
        issue_key(store, w.dep, org_id(USCC["enterprise"]), "ENTERPRISE_ROLE", w.acct["verifier"])


def test_a_replayed_signed_request_is_refused(env) -> None:
    w, _, http, _ = env
    h = signed(w, "verifier", "GET", "/v1/verifier/records")
    assert http.get("/v1/verifier/records", headers=h).status_code == 200
    problem(http.get("/v1/verifier/records", headers=h), 401, "replayed-request")


def test_a_stale_or_tampered_signed_request_is_refused(env) -> None:
    w, _, http, _ = env
    problem(http.get("/v1/verifier/records", headers=signed(w, "verifier", "GET", "/v1/verifier/records", now=int(time.time()) - 3600)),
            401, "stale-request")
    h = signed(w, "verifier", "GET", "/v1/verifier/records?limit=5")
    problem(http.get("/v1/verifier/records?limit=6", headers=h), 401, "unauthenticated")


# ------------------------------------------------------------------ submissions
def test_enterprise_records_a_month_with_emissions_computed_on_chain(env) -> None:
    w, _, http, keys = env
    r = http.post("/v1/enterprise/records", json=month(w, 1), headers=bearer(keys["enterprise"]))
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["status"] == "submitted" and rec["activityAmount"] == 50_000 + SUBSTITUTE_WH   # metered + gap substitute
    assert rec["emissionsKg"] == emissions_kg(51_000, GRID_EF_SCALED) == 29            # ⌊51,000 × 5703 / 10^7 + ½⌋


def test_an_idempotent_retry_returns_the_stored_response_and_records_once(env) -> None:
    w, _, http, keys = env
    h = {**bearer(keys["enterprise"]), "Idempotency-Key": "jan-2007"}
    first = http.post("/v1/enterprise/records", json=month(w, 1), headers=h)
    txs = w.client.tx_count
    again = http.post("/v1/enterprise/records", json=month(w, 1), headers=h)
    assert again.status_code == 201 and again.json() == first.json() and again.headers["Idempotency-Replayed"] == "true"
    assert w.client.tx_count == txs
    assert w.call(w.dep.emissions.functions.recordCount()) == 1


def test_a_stored_answer_is_replayed_only_to_a_caller_who_proves_the_key(env) -> None:
    w, _, http, keys = env
    h = {**bearer(keys["enterprise"]), "Idempotency-Key": "owner-only"}
    assert http.post("/v1/enterprise/records", json=month(w, 1), headers=h).status_code == 201
    prefix, key_id, _secret = keys["enterprise"].split("_", 2)
    forged = {"Authorization": f"Bearer {prefix}_{key_id}_{'0' * 43}", "Idempotency-Key": "owner-only"}
    r = http.post("/v1/enterprise/records", json=month(w, 1), headers=forged)
    problem(r, 401, "unauthenticated")
    assert "Idempotency-Replayed" not in r.headers and w.call(w.dep.emissions.functions.recordCount()) == 1
    problem(http.post("/v1/enterprise/records", json=month(w, 2), headers=forged), 401, "unauthenticated")


def test_a_conflicting_retry_is_refused(env) -> None:
    w, _, http, keys = env
    h = {**bearer(keys["enterprise"]), "Idempotency-Key": "k1"}
    assert http.post("/v1/enterprise/records", json=month(w, 1), headers=h).status_code == 201
    problem(http.post("/v1/enterprise/records", json=month(w, 2), headers=h), 409, "idempotency-conflict")
    assert w.call(w.dep.emissions.functions.recordCount()) == 1


def test_the_api_refuses_what_the_contract_would_refuse_before_spending_gas(env) -> None:
    w, _, http, keys = env
    assert http.post("/v1/enterprise/records", json=month(w, 1), headers=bearer(keys["enterprise"])).status_code == 201
    txs = w.client.tx_count
    p = problem(http.post("/v1/enterprise/records", json=month(w, 1), headers=bearer(keys["enterprise"])), 409, "contract-refused")
    assert p["error"] == "RecordExists" and w.client.tx_count == txs
    problem(http.post("/v1/enterprise/records", json=month(w, 6), headers=bearer(keys["enterprise"])), 409, "no-anchored-data")


def test_gaps_and_completeness_are_refused_to_the_wrong_role_and_bad_input(env) -> None:
    w, _, http, keys = env
    gap = {"device": "0x" + w.device.hex(), "year": 2007, "month": 4}
    body = {**gap, "days": [1], "reason_hash": "0x" + "11" * 32}
    problem(http.post("/v1/enterprise/gaps", json=body, headers=bearer(keys["regulator"])), 403, "wrong-role")
    problem(http.post("/v1/enterprise/gaps", json={**body, "days": [32]}, headers=bearer(keys["enterprise"])), 422, "validation-error")
    p = problem(http.post("/v1/enterprise/gaps", json={**gap, "month": 2, "days": [29], "reason_hash": "0x" + "11" * 32},
                          headers=bearer(keys["enterprise"])), 409, "contract-refused")
    assert p["error"] == "InvalidDayMask"                                                     # February 2007 has 28 days
    assess = {**gap, "substitute_wh": 5, "basis_hash": "0x" + "22" * 32}
    problem(http.post("/v1/regulator/gaps/assess", json=assess, headers=bearer(keys["enterprise"])), 403, "wrong-role")
    assert problem(http.post("/v1/regulator/gaps/assess", json=assess, headers=bearer(keys["regulator"])), 409,
                   "contract-refused")["error"] == "NoGapDeclared"
    ent = "0x" + org_id(USCC["enterprise"]).hex()
    p = problem(http.post("/v1/regulator/assessments", json={"enterprise": ent, "year": 2007, "emissions_kg": 1,
                                                              "purchased_electricity_kg": 2, "reason_hash": "0x" + "33" * 32},
                          headers=bearer(keys["regulator"])), 409, "contract-refused")
    assert p["error"] == "InvalidAssessment"
    r = http.post("/v1/regulator/completeness", json={"enterprise": ent, "year": 2007,
                                                      "sources": [{"activity_type": 1, "subject": "0x" + w.device.hex()}]},
                  headers=bearer(keys["regulator"]))
    assert r.status_code == 200 and r.json()["enrolledSources"] == 1 and r.json()["closable"] is False, r.text
    assert r.json()["factorSetId"] == w.factor_set


def test_a_submission_with_bad_fields_names_them(env) -> None:
    w, _, http, keys = env
    p = problem(http.post("/v1/enterprise/records", json=month(w, 13), headers=bearer(keys["enterprise"])), 422, "validation-error")
    assert any("month" in e["field"] for e in p["errors"])


def test_an_enterprise_without_a_custodial_key_must_sign_itself(env) -> None:
    w, _, http, keys = env
    problem(http.post("/v1/enterprise/records", json=month(w, 1), headers=bearer(keys["enterprise2"])), 409, "no-custodial-key")


# ------------------------------------------------------------------ scopes and pagination
def test_pagination_walks_every_record_once(env) -> None:
    w, _, http, keys = env
    for m in (1, 2, 3):
        assert http.post("/v1/enterprise/records", json=month(w, m), headers=bearer(keys["enterprise"])).status_code == 201
    seen, cursor = [], None
    while True:
        r = http.get("/v1/enterprise/records", params={"limit": 1, **({"cursor": cursor} if cursor else {})},
                     headers=bearer(keys["enterprise"])).json()
        seen += [x["month"] for x in r["items"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert seen == [1, 2, 3]
    got = http.get("/v1/regulator/records", params={"month": 2}, headers=bearer(keys["regulator"])).json()
    assert [x["month"] for x in got["items"]] == [2]
    problem(http.get("/v1/enterprise/records", params={"cursor": "%%%"}, headers=bearer(keys["enterprise"])), 422, "validation-error")


def test_an_enterprise_sees_only_its_own_records_and_a_verifier_only_assigned_ones(env) -> None:
    w, _, http, keys = env
    rid = http.post("/v1/enterprise/records", json=month(w, 1), headers=bearer(keys["enterprise"])).json()["record_id"]
    problem(http.get(f"/v1/enterprise/records/{rid}", headers=bearer(keys["enterprise2"])), 404, "not-found")
    assert http.get("/v1/enterprise/records", headers=bearer(keys["enterprise2"])).json()["items"] == []
    path = "/v1/verifier/records"
    assert http.get(path, headers=signed(w, "verifier", "GET", path)).json()["items"] == []
    assert http.get("/v1/public/totals").status_code == 200


# ------------------------------------------------------------------ the whole cycle, verifier non-custodial
def test_assign_attest_with_the_verifiers_own_signature_and_confirm(env) -> None:
    w, _, http, keys = env
    rid = http.post("/v1/enterprise/records", json=month(w, 1), headers=bearer(keys["enterprise"])).json()["record_id"]
    assert http.post(f"/v1/regulator/records/{rid}/verifier", json={"verifier": w.acct["verifier"]}, headers=bearer(keys["regulator"])).status_code == 200
    path = "/v1/verifier/records"
    assert [x["record_id"] for x in http.get(path, headers=signed(w, "verifier", "GET", path)).json()["items"]] == [rid]
    vpath = f"/v1/verifier/records/{rid}/verdict"
    foreign = sign_verdict(w.dep, w.keys["verifier"], rid, True, keccak256(b"report"), bytes(32))
    body = {"raw_transaction": "0x" + sign_verdict_for(w, "verifier2", rid).hex()}
    problem(post_signed(http, w, "verifier", vpath, body), 422, "invalid-transaction")
    body = {"raw_transaction": "0x" + foreign.hex()}
    r = post_signed(http, w, "verifier", vpath, body)
    assert r.status_code == 200 and r.json()["status"] == "verified", r.text
    r = http.post(f"/v1/regulator/records/{rid}/confirm", headers=bearer(keys["regulator"]))
    assert r.json()["status"] == "confirmed"
    totals = http.get("/v1/public/totals").json()["items"]
    assert totals == [{"year": 2007, "confirmed_records": 1, "emissions_kgco2": 29, "emissions_tco2": "0.029"}]


def sign_verdict_for(w: World, who: str, rid: int) -> bytes:
    """A verdict transaction signed by someone other than the assigned verifier (built by hand:
    the pre-flight in sign_verdict would refuse it)."""
    fn = w.dep.emissions.functions.attest(rid, keccak256(b"r"), bytes(32))
    tx = {"nonce": 0, "gas": 200_000, "gasPrice": 10**9, "chainId": w.client.chain_id, "to": w.dep.emissions.address,
          "data": fn.data, "value": 0}
    return bytes(Account.from_key(w.keys[who] if who in w.keys else new_private_key()).sign_transaction(tx).raw_transaction)
