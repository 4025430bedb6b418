"""The GEC job (issue 13) on a slice of the real PJM file: two plants, January–February 2016, through
the oracle nodes and the quorum anchor onto a real Anvil; every figure checked against an
independent reading of the CSV (the full year runs only in ``carbonledger gec issue``)."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.chain.anvil import free_port
from oracles.gec_job import PLANT_UTC_OFFSET, run_gec
from oracles.system import System
from scripts.cli import app
from tests.conftest import shared_data

PJM = "grid/pjm_hourly_renewable_generation_2016.csv"
FUELS = ("Solar", "Wind")
MONTHS = [(2016, 1), (2016, 2)]
SPAN = (1_451_624_400, 1_456_808_400)   # [2016-01-01T05:00Z, 2016-03-01T05:00Z): Jan–Feb at UTC−05:00


def _csv_hours(path: Path) -> dict[str, dict[int, list[str]]]:
    """fuel → UTC hour start → every ``mw`` written for it (plain csv reading, no project code)."""
    out: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            t = int(datetime.strptime(row["datetime_beginning_utc"], "%m/%d/%Y %H:%M").replace(tzinfo=UTC).timestamp())
            out[row["fuel_type"]][t].append(row["mw"])
    return out


def _valid(mw: str) -> bool:
    try:
        return Decimal(mw) >= 0
    except InvalidOperation:
        return False


def _month(t: int) -> str:
    d = datetime.fromtimestamp(t + PLANT_UTC_OFFSET, tz=UTC)
    return f"{d.year}-{d.month:02d}"


@pytest.fixture(scope="module")
def gec(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    path = shared_data(PJM)
    system = System(tmp_path_factory.mktemp("gec"), port=free_port(), log=lambda m: None).start()
    try:
        with pytest.raises(ValueError, match="no plant for fuel series 'Nuclear'"):
            run_gec(system, path, fuels=["Nuclear"], months=MONTHS, log=lambda m: None)
        report = run_gec(system, path, fuels=FUELS, months=MONTHS, log=lambda m: None)
    finally:
        system.stop()
    return report, path


def test_certificates_per_plant_and_month_come_from_the_anchored_mwh(gec: tuple[dict, Path]) -> None:
    report, path = gec
    hours = _csv_hours(path)
    assert set(report["plants"]) == set(FUELS)
    for fuel in FUELS:
        p = report["plants"][fuel]
        wh: dict[str, int] = defaultdict(int)
        for t, mws in hours[fuel].items():
            if SPAN[0] <= t < SPAN[1] and len(set(mws)) == 1:
                wh[_month(t)] += int(Decimal(mws[0]) * 1_000_000)   # MW → W, × 1 h = Wh
        carried = 0
        assert [r["month"] for r in p["months"]] == ["2016-01", "2016-02"]
        for r in p["months"]:
            assert r["anchored_wh"] == wh[r["month"]] == r["expected_wh"], (fuel, r)
            assert r["carried_in_wh"] == carried
            assert r["certificates"] == (wh[r["month"]] + carried) // 1_000_000
            carried = (wh[r["month"]] + carried) % 1_000_000
            assert r["carried_wh"] == carried
            assert r["last_serial"] - r["first_serial"] + 1 == r["certificates"]
        assert p["certificates"] == sum(r["certificates"] for r in p["months"])
        assert p["certificates"] * 1_000_000 + p["carried_wh"] == sum(wh.values())    # nothing rounded away
    ranges = sorted((r["first_serial"], r["last_serial"]) for p in report["plants"].values() for r in p["months"])
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))                     # serials never reused
    assert report["total_certificates"] == sum(p["certificates"] for p in report["plants"].values())


def test_missing_and_duplicate_hours_are_reported_not_signed(gec: tuple[dict, Path]) -> None:
    report, path = gec
    hours = _csv_hours(path)
    for fuel in FUELS:
        p = report["plants"][fuel]
        present = {t for t in hours[fuel] if SPAN[0] <= t < SPAN[1]}
        missing = sorted(set(range(SPAN[0], SPAN[1], 3600)) - present)
        dups = sorted(t for t in present if len(hours[fuel][t]) > 1 and len(set(hours[fuel][t])) == 1)
        iso = [datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for t in missing]
        assert p["missing_hours"] == iso
        assert len(p["duplicate_hours"]) == len(dups)
        assert p["readings_signed"] == sum(1 for t in present if _valid(hours[fuel][t][0]))
        assert sum(r["readings"] for r in p["months"]) == p["readings_signed"]
        assert p["acknowledgements"].get("rejected", 0) == 0


def test_cli_refuses_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["gec", "issue", "--data", str(tmp_path / "absent.csv")])
    assert r.exit_code == 2 and "no such file" in r.output
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n")
    r = runner.invoke(app, ["gec", "issue", "--data", str(f), "--format", "ampd-hourly"])
    assert r.exit_code == 2 and "supported: pjm-hourly" in r.output
