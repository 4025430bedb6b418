"""Meter-stream rules over an oracle node's store (oracles/stream_alerts.py): the node ingests the real
UCI readings of 2007-01-01 (original-layout subset, ../shared/data/meter/uci_household_power_consumption_subset.txt,
DimaVilda/NARX-Prediction-Model @ 3ede9353, CC BY 4.0; sequences = the file's data lines), and the rules find
on its stored stream exactly what they find on the loader's."""

from __future__ import annotations

from pathlib import Path

from ledger.alerts.checks import ALERT, NO_ALERT, check_stuck
from ledger.alerts.rules import make_rule
from oracles.alerts_job import meter_stream
from oracles.stream_alerts import check_node_stream
from oracles.uci import load_uci
from tests.conftest import World, shared_data
from tests.helpers import DAY0, minute_readings
from tests.live_server import serving_node
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
