"""Meter-stream rules over an oracle node's store (oracles/stream_alerts.py): the node ingests the real
UCI readings of 2007-01-01 (original-layout subset, ../shared/data/meter/uci_household_power_consumption_subset.txt,
DimaVilda/NARX-Prediction-Model @ 3ede9353, CC BY 4.0; sequences = the file's data lines), and the rules find
on its stored stream exactly what they find on the loader's. The node's early-warning feed
(oracles/alert_feed.py, ``--alerts-url``) runs the regulator's rules on the readings as they arrive and
posts its alerts to the API (``POST /v1/oracle/alerts``): a stuck meter fires, the real meter does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import issue_key
from ledger.alerts.checks import ALERT, NO_ALERT, alert_hash, check_stuck, iso
from ledger.alerts.rules import make_rule
from ledger.alerts.store import list_alerts
from ledger.identifiers import org_id
from ledger.store.db import make_engine, sqlite_url
from oracles.alert_feed import AlertFeed
from oracles.alerts_job import meter_stream
from oracles.stream_alerts import check_node_stream
from oracles.uci import load_uci
from scripts import oracle_node
from tests.conftest import USCC, World, shared_data
from tests.helpers import DAY0, minute_readings
from tests.live_server import live_server, serving_node
from tests.test_oracle_node import signed

ENT = "enterprise:91110108MA01CL7K9H"
DAY = 86_400


def _ingest_day(w: World, tmp: Path, skip: range = range(0)):
    series = load_uci(shared_data("meter/uci_household_power_consumption_subset.txt"))
    day = [r for r in series.readings if DAY0 <= r.start < DAY0 + DAY]
    assert len(day) == 1_440 and day[-1].line - day[0].line == 1_439
    node = serving_node(w, tmp)
    rs = [r for i, r in enumerate(minute_readings(w.device, DAY0, [r.watts for r in day], day[0].line)) if i not in skip]
    assert {a.status for a in node.ingest(signed(w, rs))} == {"accepted"}
    return node, series


def test_node_stream_finds_the_stuck_runs_the_loader_finds(chain: World, tmp_path: Path) -> None:
    node, series = _ingest_day(chain, tmp_path)
    rules = [make_rule("stuck4", "stream_stuck", ENT, {"min_minutes": 4}), make_rule("stuck60", "stream_stuck", ENT,
                                                                                    {"min_minutes": 60})]
    four, sixty = check_node_stream(node.engine, chain.device, ENT, rules, DAY0, DAY0 + DAY)
    reference = check_stuck(rules[0], meter_stream(series, ENT, "x", DAY0, DAY0 + DAY))
    assert four.status == ALERT and len(four.alerts) >= 5   # the day's longest runs: 4 minutes at one value
    assert [(a.period_start, a.period_end, a.measure) for a in four.alerts] == \
        [(a.period_start, a.period_end, a.measure) for a in reference.alerts]
    assert [a.evidence["readings"] for a in four.alerts] == [a.evidence["readings"] for a in reference.alerts]
    assert all(a.evidence["batches"] == [] for a in four.alerts)   # the node signed no report yet
    assert sixty.status == NO_ALERT
    report = node.build_report(chain.device, DAY0, DAY0 + DAY)       # the day's batch report, signed by the node
    assert report is not None
    (again, _) = check_node_stream(node.engine, chain.device, ENT, rules, DAY0, DAY0 + DAY)
    assert all(a.evidence["batches"] == [{"start": "2006-12-31T23:00:00Z", "end": "2007-01-01T23:00:00Z",
                                          "root": "0x" + report.report.root.hex(), "batch_id": None}]
               for a in again.alerts)


def test_node_stream_reports_an_hour_the_node_never_received(chain: World, tmp_path: Path) -> None:
    """Readings of 10:00-11:00 local are not delivered to the node (an outage): a 60-minute gap, between the
    file's sequences around it; the full day is the negative control (tested above: nothing missing)."""
    node, _ = _ingest_day(chain, tmp_path, skip=range(600, 660))
    gap = make_rule("gap60", "stream_gap", ENT, {"min_minutes": 60})
    (o,) = check_node_stream(node.engine, chain.device, ENT, [gap], DAY0, DAY0 + DAY)
    assert o.status == ALERT and len(o.alerts) == 1
    a = o.alerts[0]
    assert (a.period_start, a.measure["minutes"], a.measure["reasons"]) == ("2007-01-01T09:00:00Z", 60, ["absent"])
    assert a.evidence["sequence_after"] - a.evidence["sequence_before"] == 61
    (quiet,) = check_node_stream(node.engine, chain.device, ENT, [make_rule("gap61", "stream_gap", ENT, {"min_minutes": 61})],
                                 DAY0, DAY0 + DAY)
    assert quiet.status == NO_ALERT


# ------------------------------------------------------------------ the node's feed to the API
STUCK_RULE = {"rule_id": "ent.stuck30", "kind": "stream_stuck", "scope": "enterprise:" + USCC["enterprise"],
              "params": {"min_minutes": 30}, "severity": "warning", "source": "UNCONFIRMED: regulator's choice (test)"}


@pytest.fixture()
def api(chain: World, tmp_path: Path):
    """The participants' API with the regulator's 30-minute stuck-meter rule for the world's enterprise,
    and API keys of the regulator and of oracle-1."""
    store = make_engine(sqlite_url(tmp_path / "api.sqlite"))
    app = create_app(chain.dep, store, None, custodial=[chain.acct["regulator"]])
    keys = {n: issue_key(store, chain.dep, org_id(USCC[n]), r)
            for n, r in [("regulator", "REGULATOR_ROLE"), ("oracle-1", "ORACLE_ROLE"), ("enterprise", "ENTERPRISE_ROLE")]}
    http = TestClient(app)
    r = http.post("/v1/regulator/alert-rules", json=STUCK_RULE, headers={"Authorization": f"Bearer {keys['regulator']}"})
    assert r.status_code == 200, r.text
    return app, store, keys, http


def test_the_node_posts_a_stuck_meter_alert_and_not_the_real_meters_readings(chain: World, tmp_path: Path, api) -> None:
    app, store, keys, _ = api
    day = [r for r in load_uci(shared_data("meter/uci_household_power_consumption_subset.txt")).readings
           if DAY0 <= r.start < DAY0 + DAY][:120]
    watts = [r.watts for r in day] + [1_500] * 45 + [1_620]        # the real meter, then 45 minutes stuck at 1,500 W
    rs = signed(chain, minute_readings(chain.device, DAY0, watts, 1))
    node = serving_node(chain, tmp_path)
    with live_server(app) as url:
        feed = AlertFeed(node, url, keys["oracle-1"]).start()
        try:
            assert {a.status for a in node.ingest(rs[:120])} == {"accepted"}          # negative control: the real meter
            assert feed.wait_idle() and list_alerts(store) == [] and feed.errors == 0
            node.ingest(rs[120:165])                                                 # stuck, still running at the head
            assert feed.wait_idle() and list_alerts(store) == []
            node.ingest(rs[165:])                                                    # another value ends the run
            assert feed.wait_idle() and feed.errors == 0 and feed.posted == 1
        finally:
            feed.stop()
    (a,) = list_alerts(store)
    assert (a["rule_id"], a["subject"], a["measure"]["minutes"], a["measure"]["value_w"]) == \
        ("ent.stuck30", STUCK_RULE["scope"], 45, 1_500)
    assert (a["period_start"], a["period_end"]) == (iso(DAY0 + 120 * 60), iso(DAY0 + 165 * 60))
    assert a["evidence"]["readings"]["first_sequence"] == 121 and a["evidence"]["readings"]["last_sequence"] == 165
    assert a["run"] == f"oracle:{chain.acct['oracle-1']}" and a["hash_ok"] and a["evidence"]["device"] == "0x" + chain.device.hex()


def test_a_posted_alert_is_stored_once_and_bad_alerts_are_refused(chain: World, api) -> None:
    _, store, keys, http = api
    stream = meter_stream(load_uci(shared_data("meter/uci_household_power_consumption_subset.txt")), STUCK_RULE["scope"],
                          "0x" + chain.device.hex(), DAY0, DAY0 + DAY)
    four = make_rule("ent.stuck30", "stream_stuck", STUCK_RULE["scope"], {"min_minutes": 4})
    alert = check_stuck(four, stream).alerts[0].as_dict()            # the real 4-minute run, reported under the rule's id
    oracle = {"Authorization": f"Bearer {keys['oracle-1']}"}
    r = http.post("/v1/oracle/alerts", json=alert, headers=oracle)
    assert r.status_code == 201 and r.json()["new"], r.text
    again = http.post("/v1/oracle/alerts", json=alert, headers=oracle)
    assert again.status_code == 200 and again.json() == {**r.json(), "new": False}
    assert len(list_alerts(store)) == 1
    rules = http.get("/v1/oracle/alert-rules", headers=oracle).json()["items"]
    assert [(x["rule_id"], x["org_id"]) for x in rules] == [("ent.stuck30", "0x" + org_id(USCC["enterprise"]).hex())]
    bad = [({**alert, "message": "edited"}, "alert_hash"), (_rehash({**alert, "rule_id": "nope"}), "rule_id"),
           (_rehash({**alert, "severity": "critical"}), "severity"), (_rehash({**alert, "subject": "enterprise:X"}), "subject"),
           (_rehash({**alert, "kind": "stream_gap"}), "kind"), (_rehash({**alert, "evidence": {}}), "evidence.device"),
           ({**alert, "extra": 1}, "extra"), ({**alert, "period_start": "2007-01-01"}, "period_start")]
    for body, field in bad:
        r = http.post("/v1/oracle/alerts", json=body, headers=oracle)
        assert r.status_code == 422 and field in r.text, (field, r.text)
    for who in ("regulator", "enterprise"):
        r = http.post("/v1/oracle/alerts", json=alert, headers={"Authorization": f"Bearer {keys[who]}"})
        assert r.status_code == 403, who
        assert http.get("/v1/oracle/alert-rules", headers={"Authorization": f"Bearer {keys[who]}"}).status_code == 403
    assert len(list_alerts(store)) == 1                               # nothing refused was stored


def _rehash(body: dict) -> dict:
    return {**body, "alert_hash": alert_hash(body)}


def test_the_node_refuses_alerts_url_without_an_oracle_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CARBONLEDGER_ORACLE_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exc:
        oracle_node.main(["--name", "oracle-1", "--data-dir", str(tmp_path), "--rpc-url", "http://127.0.0.1:9",
                          "--port", "1", "--alerts-url", "http://127.0.0.1:8000"])
    assert exc.value.code == 2 and "CARBONLEDGER_ORACLE_API_KEY" in capsys.readouterr().err


def test_the_feed_refuses_a_window_that_is_not_positive_and_a_negative_interval(chain: World, tmp_path: Path) -> None:
    node = serving_node(chain, tmp_path)
    with pytest.raises(ValueError, match="window_s must be positive"):
        AlertFeed(node, "http://127.0.0.1:9", "key", window_s=0)
    with pytest.raises(ValueError, match="min_interval_s must not be negative"):
        AlertFeed(node, "http://127.0.0.1:9", "key", min_interval_s=-1)
    assert node.on_accepted is None                                  # nothing hooked by a refused feed


def test_an_alert_that_is_not_utf8_is_a_validation_problem_not_a_500(api) -> None:
    _, store, keys, http = api
    body = ('{"rule_id":"ent.stuck30","kind":"stream_stuck","severity":"warning","subject":"x","period_start":'
            '"2007-01-01T00:00:00Z","period_end":"2007-01-01T01:00:00Z","measure":{"note":"\\ud800"},"message":"m","evidence":{},'
            '"alert_hash":"0x' + "00" * 32 + '"}')
    r = http.post("/v1/oracle/alerts", content=body, headers={"Authorization": f"Bearer {keys['oracle-1']}",
                                                              "Content-Type": "application/json"})
    assert r.status_code == 422 and "UTF-8" in r.text and list_alerts(store) == []


def test_a_backfill_longer_than_the_window_is_evaluated_whole(chain: World, tmp_path: Path, api) -> None:
    """Readings that arrive faster than real time (a day's backfill in one batch) are all judged, even
    with a one-hour window: the stuck run at its start fires, the rest of the day does not."""
    app, store, keys, _ = api
    watts = [1_500] * 40 + [1_000 + (i * 37) % 500 for i in range(1_400)]
    node = serving_node(chain, tmp_path)
    feed = AlertFeed(node, "http://testserver", keys["oracle-1"], window_s=3_600, min_interval_s=0,
                     http=TestClient(app)).start()
    try:
        assert {a.status for a in node.ingest(signed(chain, minute_readings(chain.device, DAY0, watts, 1)))} == {"accepted"}
        assert feed.wait_idle() and feed.errors == 0
    finally:
        feed.stop()
    assert [(a["measure"]["minutes"], a["period_start"]) for a in list_alerts(store)] == [(40, iso(DAY0))]
