"""The regulator's early-warning routes: rules set by an authenticated regulator (an enterprise is
refused, bad rules get a problem naming the field), alerts listed by cursor with filters, one alert,
and the server-sent-event stream — over alerts raised by the rules on real data (the UCI subset
../shared/data/meter/uci_household_power_consumption_subset.txt, DimaVilda/NARX-Prediction-Model @
3ede9353, CC BY 4.0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import issue_key
from api.client import ApiClient, ApiError
from api.pagination import encode_cursor
from ledger.alerts.checks import check_gap, check_step
from ledger.alerts.rules import make_rule
from ledger.alerts.runs import record_run
from ledger.alerts.store import save_alerts
from ledger.crypto.primitives import Signer
from ledger.identifiers import org_id
from ledger.store.db import make_engine, sqlite_url
from oracles.alerts_job import meter_stream
from oracles.uci import load_uci
from tests.conftest import USCC, World, shared_data
from tests.live_server import live_server

ENT = "enterprise:91110108MA01CL7K9H"


@pytest.fixture()
def env(chain: World, tmp_path: Path):
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    app = create_app(chain.dep, store, None, custodial=[chain.acct["regulator"]])
    keys = {n: issue_key(store, chain.dep, org_id(USCC[n]), role)
            for n, role in [("regulator", "REGULATOR_ROLE"), ("enterprise", "ENTERPRISE_ROLE")]}
    stream = meter_stream(load_uci(shared_data("meter/uci_household_power_consumption_subset.txt")), ENT, "meter")
    alerts = (check_gap(make_rule("gap2", "stream_gap", ENT, {"min_minutes": 2}), stream).alerts
              + check_step(make_rule("step4k", "stream_step", ENT, {"min_step_w": 4_000}, "info"), stream).alerts)
    ids = save_alerts(store, alerts, "test")
    return chain, TestClient(app), keys, ids


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


RULE = {"rule_id": "ent.gap", "kind": "stream_gap", "scope": ENT, "params": {"min_minutes": 60}, "severity": "warning",
        "source": "UNCONFIRMED: regulator's choice"}


def test_regulator_sets_a_rule_and_a_new_version_replaces_it(env) -> None:
    w, http, keys, _ = env
    r = http.post("/v1/regulator/alert-rules", json=RULE, headers=bearer(keys["regulator"]))
    assert r.status_code == 200, r.text
    assert r.json()["set_by"] == w.acct["regulator"] and r.json()["active"]
    http.post("/v1/regulator/alert-rules", json={**RULE, "params": {"min_minutes": 30}}, headers=bearer(keys["regulator"]))
    active = http.get("/v1/regulator/alert-rules", headers=bearer(keys["regulator"])).json()["items"]
    assert [x["params"] for x in active] == [{"min_minutes": 30}]
    every = http.get("/v1/regulator/alert-rules?all_versions=true", headers=bearer(keys["regulator"])).json()["items"]
    assert [x["active"] for x in every] == [False, True]


def test_set_rule_refuses_an_enterprise(env) -> None:
    _, http, keys, _ = env
    r = http.post("/v1/regulator/alert-rules", json=RULE, headers=bearer(keys["enterprise"]))
    assert r.status_code == 403 and r.json()["type"].endswith("wrong-role")


@pytest.mark.parametrize("change, field", [({"params": {"min_minutes": 0}}, "min_minutes"),
                                           ({"params": {"days": 3}}, "params"),
                                           ({"scope": "all"}, "scope"),
                                           ({"kind": "nope"}, "kind")])
def test_set_rule_refuses_bad_rules_with_a_problem(env, change, field) -> None:
    _, http, keys, _ = env
    r = http.post("/v1/regulator/alert-rules", json={**RULE, **change}, headers=bearer(keys["regulator"]))
    assert r.status_code == 422 and r.json()["type"].endswith("validation-error") and field in r.text


def test_alerts_are_listed_by_cursor_filtered_and_read_one_by_one(env) -> None:
    _, http, keys, ids = env
    assert len(ids) >= 3
    h = bearer(keys["regulator"])
    first = http.get("/v1/regulator/alerts?limit=2", headers=h).json()
    assert [a["id"] for a in first["items"]] == ids[:2] and first["next_cursor"]
    rest = http.get(f"/v1/regulator/alerts?limit=100&cursor={first['next_cursor']}", headers=h).json()
    assert [a["id"] for a in rest["items"]] == ids[2:] and rest["next_cursor"] is None
    gaps = http.get("/v1/regulator/alerts?kind=stream_gap", headers=h).json()["items"]
    assert [a["period_start"] for a in gaps] == ["2006-12-21T10:23:00Z", "2006-12-30T09:08:00Z"]
    assert all(a["hash_ok"] for a in gaps)
    one = http.get(f"/v1/regulator/alerts/{ids[0]}", headers=h).json()
    assert one == gaps[0]
    assert http.get("/v1/regulator/alerts/999999", headers=h).status_code == 404
    assert http.get("/v1/regulator/alerts", headers=bearer(keys["enterprise"])).status_code == 403


def test_alert_stream_sends_every_alert_and_resumes_after_an_id(env) -> None:
    _, http, keys, ids = env
    h = bearer(keys["regulator"])
    body = http.get("/v1/regulator/alerts/stream?once=true", headers=h).text
    events = [b for b in body.split("\n\n") if b.strip()]
    assert [int(e.split("\n")[0].removeprefix("id: ")) for e in events] == ids
    assert events[0].split("\n")[1] == "event: stream_gap"
    assert json.loads(events[0].split("\n")[2].removeprefix("data: "))["rule_id"] == "gap2"
    later = http.get("/v1/regulator/alerts/stream", headers={**h, "Last-Event-ID": str(ids[-2])}).text
    assert later.startswith(f"id: {ids[-1]}\n") and later.count("id: ") == 1


def test_regulator_anchors_an_alert_hash_once(env) -> None:
    w, http, keys, ids = env
    h = bearer(keys["regulator"])
    a = http.get(f"/v1/regulator/alerts/{ids[0]}", headers=h).json()
    assert a["anchor_tx"] is None
    r = http.post(f"/v1/regulator/alerts/{ids[0]}/anchor", headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["anchor_tx"].startswith("0x") and out["anchored_at"] > 0
    assert w.dep.evidence.alertAnchoredAt(bytes.fromhex(a["alert_hash"][2:])) == out["anchored_at"]
    again = http.post(f"/v1/regulator/alerts/{ids[0]}/anchor", headers=h)
    assert again.status_code == 409 and "AlertAlreadyAnchored" in again.text
    assert http.post("/v1/regulator/alerts/999999/anchor", headers=h).status_code == 404
    assert http.post(f"/v1/regulator/alerts/{ids[1]}/anchor", headers=bearer(keys["enterprise"])).status_code == 403


def test_alert_ids_and_cursors_beyond_the_id_range_are_answered_not_crashed(env) -> None:
    _, http, keys, _ = env
    h = bearer(keys["regulator"])
    assert http.get(f"/v1/regulator/alerts/{2**31}", headers=h).status_code == 422
    huge = encode_cursor(10**30)
    assert http.get(f"/v1/regulator/alerts?cursor={huge}", headers=h).json() == {"items": [], "next_cursor": None}
    assert http.get("/v1/regulator/alerts/stream", headers={**h, "Last-Event-ID": "9" * 40}).text == ""


def test_typed_client_sets_rules_signed_and_pages_alerts(env) -> None:
    """ApiClient over a live server: the rule is an EIP-712 signed regulator request (no API key)."""
    w, http, keys, ids = env
    with live_server(http.app) as url:
        signed = ApiClient(url, signer=Signer(w.keys["regulator"]), chain_id=w.client.chain_id)
        rule = signed.set_alert_rule("ent.imputed", "stream_imputed", ENT, {"min_minutes": 60}, severity="critical",
                                     source="UNCONFIRMED: regulator's choice")
        assert rule["set_by"] == w.acct["regulator"] and rule["severity"] == "critical"
        with pytest.raises(ApiError) as exc:
            signed.set_alert_rule("bad", "stream_gap", ENT, {"min_minutes": -1}, source="x")
        assert exc.value.slug == "validation-error"
        api = ApiClient(url, api_key=keys["regulator"])
        assert [r["rule_id"] for r in api.alert_rules()] == ["ent.imputed"]
        assert [a["id"] for a in api.alerts(limit=1)] == ids
        assert [a["measure"]["reasons"] for a in api.alerts(kind="stream_gap", subject=ENT)] == [["absent"], ["absent"]]
        assert api.alert(ids[-1])["kind"] == "stream_step"
        assert api.anchor_alert(ids[-1])["anchor_tx"]


def test_rule_runs_are_listed_for_the_regulator_only(env) -> None:
    _, http, keys, _ = env
    rule = make_rule("ent.stuck", "stream_stuck", ENT, {"min_minutes": 60})
    summary = {"ent.stuck": {"alerts": 0, "not_evaluable": 1, "not_evaluable_reasons": {"no meter readings in the window": 1}}}
    for ds in ("uci-2007", "ampd-2016-2017", "uci-2007"):
        record_run(http.app.state.ctx.api_store, run_id=f"run-{ds}", dataset=ds, trigger="cli", started_at=100, finished_at=160,
                   rules=[rule], summary=summary, alerts_new=0)
    r = http.get("/v1/regulator/alert-runs", params={"limit": 2}, headers=bearer(keys["regulator"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["dataset"] for x in body["items"]] == ["uci-2007", "ampd-2016-2017"] and body["next_cursor"]
    rest = http.get("/v1/regulator/alert-runs", params={"cursor": body["next_cursor"]}, headers=bearer(keys["regulator"])).json()
    assert [x["id"] for x in rest["items"]] == [3]
    only = http.get("/v1/regulator/alert-runs", params={"dataset": "uci-2007"}, headers=bearer(keys["regulator"])).json()
    assert [x["id"] for x in only["items"]] == [1, 3]
    assert only["items"][0]["summary"]["ent.stuck"]["not_evaluable_reasons"] == {"no meter readings in the window": 1}
    assert http.get("/v1/regulator/alert-runs", headers=bearer(keys["enterprise"])).status_code == 403
    assert http.get("/v1/regulator/alert-runs", params={"dataset": "x" * 81},
                    headers=bearer(keys["regulator"])).status_code == 422
