"""``carbonledger bench table`` (oracles/bench_table.py, scripts/bench_table.py), run small on both
engines: the embedded Anvil node and a real 4-node geth Clique network (built by the installer if
missing; under CI=true it must run)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.network import GethUnavailable, geth_binary
from oracles.bench_table import ROWS, markdown, table_json
from scripts.cli import app
from tests.conftest import ROOT, unavailable

#: geth's cold build takes ~3.5 min on an idle 2-core machine; the small table about 5 min.
pytestmark = pytest.mark.timeout(900)


def test_table_refuses_a_missing_or_non_positive_figure() -> None:
    figures = {e: {k: 1.0 for k, _, _ in ROWS} for e in ("embedded", "network")}
    machine = {"cpu": "x", "cores": 1, "ram_gib": 1.0, "anvil": "anvil/v1", "geth": "Geth/v1.13.15"}
    assert len(table_json(machine, figures)["rows"]) == len(ROWS)
    figures["network"]["finality_p99"] = 0.0
    with pytest.raises(ValueError, match="network time to finality p99"):
        table_json(machine, figures)
    figures["network"]["finality_p99"] = float("nan")
    with pytest.raises(ValueError, match="not a positive finite number"):
        table_json(machine, figures)
    del figures["network"]["finality_p99"]
    with pytest.raises(ValueError, match="None"):
        table_json(machine, figures)


def test_bench_table_small_on_both_engines(tmp_path: Path) -> None:
    try:
        geth_binary(ROOT, build=True)
    except GethUnavailable as exc:
        unavailable(str(exc))
    out, png, md = tmp_path / "table.json", tmp_path / "table.png", tmp_path / "table.md"
    res = CliRunner().invoke(app, ["bench", "table", "--quick", "--days", "3", "--readings", "1000",
                                   "--report-json", str(out), "--png", str(png), "--markdown", str(md),
                                   "--data-dir", str(tmp_path / "work")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    table = json.loads(out.read_text())
    assert set(table) == {"machine", "rows"}
    m = table["machine"]
    assert set(m) == {"cpu", "cores", "ram_gib", "anvil", "geth"}
    assert m["anvil"].startswith("anvil") and m["geth"].startswith("Geth/v1.13.15")
    assert isinstance(m["cores"], int) and m["cores"] >= 1 and m["ram_gib"] > 0
    assert [r["metric"] for r in table["rows"]] == [metric for _, metric, _ in ROWS]
    for r in table["rows"]:
        assert set(r) == {"metric", "unit", "embedded", "network"}
        for engine in ("embedded", "network"):
            v = r[engine]
            assert isinstance(v, int | float) and not isinstance(v, bool), r
            assert math.isfinite(v) and v > 0, r
    by = {r["metric"]: r for r in table["rows"]}
    # the same bytecode costs the same gas on both engines (same EVM rules through London/paris);
    # only calldata differs a little (fresh random keys: signatures with more or fewer zero bytes)
    for metric in ("gas: register a device", "gas: settle 1 trade", "gas: issue CEA (new holder)"):
        assert by[metric]["network"] == pytest.approx(by[metric]["embedded"], rel=0.01)
    # a Clique write waits K = 3 one-second blocks; the embedded node mines on arrival
    assert by["time to finality p50"]["network"] > by["time to finality p50"]["embedded"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert md.read_text().strip() == markdown(table)
