"""End to end: the compliance-year simulation on its own throwaway Anvil (CI-sized slices).

A synthetic AMPD slice (40 covered units plus excluded rows, 4 trading days) always runs; a slice
of the real files (../shared/data, PROVENANCE.md: EPA AMPD 2016 via bsergi/Historical-PJM-Dispatch-Curves
@ a37b3262, GCP.csv via Chen-zhongxiu/Carbon-price-data @ 6e3ea533, OGE factors via
singularity-energy/open-grid-emissions @ 4ac110c8) runs when the files are present. The full-size
run is not part of CI (it is measured by hand: see the README section of ledger/simulation/engine.py's docstring).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner
from web3 import Web3

from ledger.accounting.settlement import Trade, matched_orders, settlement_domain
from ledger.chain.anvil import AnvilNode, anvil_binary
from ledger.chain.client import FastCall
from ledger.contracts.compiler import REPO_ROOT, compile_contracts
from ledger.crypto.primitives import keccak256
from ledger.simulation.engine import SimulationConfig, load_inputs, run_simulation
from scripts.simulate import simulate_app
from tests.test_simulation_plan import FACTORS, HEADER, data_file

REPORT_KEYS = ["units", "excluded", "emissions_t", "allocation_t", "trades", "settled_t", "settled_fen", "compliant",
               "shortfall", "transactions", "gas_used", "seconds"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """40 covered units (coal and gas, long and short), 5 excluded rows, 4 trading days whose first
    prices jump beyond ±10 % of the previous close (clamped by the plan)."""
    d = tmp_path_factory.mktemp("sim")
    rng = random.Random(40)
    rows = []
    for i in range(40):
        coal = i % 3 == 0
        mwh = rng.randint(50_000, 3_000_000)
        # heat rate: coal 9–12 MMBtu/MWh, gas 6.5–11 MMBtu/MWh → a mix of long and short units
        heat = mwh * (rng.uniform(9, 12) if coal else rng.uniform(6.5, 11))
        fuel = "Coal" if coal else ("Pipeline Natural Gas" if i % 2 else "\"Natural Gas, Pipeline Natural Gas\"")
        rows.append(f"ST, Plant {i}, {1000 + i}, U{i}, , 2016, {mwh}.25, {heat * 0.1:.1f}, {heat:.1f}, Operating, "
                    f"Boiler, {fuel}, ")
    rows += ["ST, Oil, 2000, 1, , 2016, 100, 10, 900, Operating, CT, Diesel Oil, ",
             "ST, Wood, 2001, 1, , 2016, 100, 10, 900, Operating, Boiler, Wood, ",
             "ST, NoHeat, 2002, 1, , 2016, , , , Operating, CT, Pipeline Natural Gas, ",
             "ST, NoLoad, 2003, 1, , 2016, , 10, 900, Operating, CT, Pipeline Natural Gas, ",
             "ST, Zero, 2004, 1, , 2016, 0, 10, 900, Operating, CT, Coal, "]
    ampd_dir = d / "cems"
    ampd_dir.mkdir()
    (ampd_dir / "ampd.csv").write_text("\n".join([HEADER, *rows]))
    (d / "emission_factors").mkdir()
    (d / "emission_factors" / "oge_emission_factors_for_co2_ch4_n2o.csv").write_text(FACTORS)
    (d / "gcp.csv").write_text("date,type,price,log_price\n2015/12/31,GDEA,20,3\n2016/1/4,GDEA,15.1,2.7\n"
                               "2016/1/5,GDEA,16.02,2.8\n2016/1/6,GDEA,16.5,2.8\n2016/1/7,GDEA,17.33,2.9\n")
    return {"ampd": ampd_dir / "ampd.csv", "prices": d / "gcp.csv", "dir": d}


def test_synthetic_year_runs_end_to_end_and_matches_the_python_mirror(synthetic: dict[str, Path]) -> None:
    cfg = SimulationConfig(synthetic["ampd"], synthetic["prices"], seed=7, batch=7)
    full, pop, plan, parts, year, price = load_inputs(cfg)
    s = run_simulation(cfg)
    assert list(s)[:12] == REPORT_KEYS
    assert (s["units"], s["excluded"]) == (40, 5)
    assert s["details"]["excluded_by_reason"] == {"other_fuel": 2, "unmapped_fuel": 0, "blank_heat_input": 1,
                                                  "zero_heat_input": 0, "blank_gross_load": 1, "zero_load": 1}
    assert s["emissions_t"] == sum(p.emissions_t for p in parts)
    assert s["allocation_t"] == sum(p.allocation_t for p in parts)
    assert (s["trades"], s["settled_t"], s["settled_fen"]) == (plan.trade_count, plan.settled_t, plan.settled_fen)
    # 20.00 → 15.10 is clamped to 18.00, and 16.02 then to 16.20 (−10 % of the simulated close 18.00)
    assert s["trades"] > 0 and s["details"]["trading_days"] == 4 and s["details"]["clamped_days"] == 2
    assert [d.price_fen for d in plan.days] == [1_800, 1_620, 1_650, 1_733]
    unmet = plan.unmet_t
    assert s["shortfall"] == len(unmet) and s["compliant"] == 40 - len(unmet)
    assert s["details"]["shortfall_t"] == sum(unmet.values())
    assert s["details"]["penalty_min_fen"] == 5 * sum(unmet.values()) * price
    assert s["details"]["penalty_max_fen"] == 2 * s["details"]["penalty_min_fen"]
    # every unit: 2 declarations × 5 MRV steps, 1 admission, and most surrender; settle batches of 7
    assert s["transactions"] > 40 * 11 + plan.trade_count // 7
    assert s["gas_used"] > 0 and s["seconds"] > 0


def test_cli_writes_the_report_json(synthetic: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    r = CliRunner().invoke(simulate_app, ["--ampd", str(synthetic["ampd"]), "--prices", str(synthetic["prices"]),
                                          "--units", "12", "--days", "2", "--seed", "3", "--report-json", str(out)])
    assert r.exit_code == 0, r.output
    rep = json.loads(out.read_text())
    assert list(rep)[:12] == REPORT_KEYS and rep["units"] == 12
    assert rep["compliant"] + rep["shortfall"] == 12
    assert rep["details"]["trading_days"] == 2


@pytest.mark.parametrize("args,msg", [(["--units", "0"], "units"), (["--days", "0"], "days"),
                                      (["--cadence", "0"], "cadence"), (["--start", "2016-13-01"], "date")])
def test_cli_refuses_bad_options(synthetic: dict[str, Path], args: list[str], msg: str) -> None:
    r = CliRunner().invoke(simulate_app, ["--ampd", str(synthetic["ampd"]), "--prices", str(synthetic["prices"]),
                                          *args])
    assert r.exit_code == 2 and msg in r.output.lower()


def test_cli_refuses_a_missing_file(synthetic: dict[str, Path], tmp_path: Path) -> None:
    r = CliRunner().invoke(simulate_app, ["--ampd", str(tmp_path / "nope.csv"), "--prices", str(synthetic["prices"])])
    assert r.exit_code == 2


def test_real_data_slice_40_units_3_days() -> None:
    ampd = data_file("cems/ampd_annual_unit_2016.csv")
    cfg = SimulationConfig(ampd, data_file("market/GCP.csv"), factors=data_file("emission_factors/oge_emission_factors_for_co2_ch4_n2o.csv"),
                           units=40, days=3, seed=2016)
    _, _, plan, parts, _, _ = load_inputs(cfg)
    s = run_simulation(cfg)
    assert (s["units"], s["excluded"]) == (40, 327)
    assert s["emissions_t"] == sum(p.emissions_t for p in parts)
    assert s["trades"] == plan.trade_count and s["compliant"] + s["shortfall"] == 40
    assert s["details"]["first_day"] == "2016-01-04"


def test_fast_calldata_equals_web3_encoding() -> None:
    art = compile_contracts(REPO_ROOT, REPO_ROOT / ".carbonledger" / "build")
    w3 = Web3()
    sender = "0x" + "11" * 20
    sender = Web3.to_checksum_address(sender)
    other = Web3.to_checksum_address("0x" + "22" * 20)
    em = w3.eth.contract(address=other, abi=art["EmissionsRegistry"].abi)
    st = w3.eth.contract(address=other, abi=art["Settlement"].abi)
    pr = w3.eth.contract(address=other, abi=art["ParticipantRegistry"].abi)
    args = (4, b"BIT".ljust(32, b"\0"), 2016, 0, 123_456_789, 1, b"\x01" * 32, 0)
    assert FastCall(em, "recordDeclared")(sender, *args).data == _web3_data(em, "recordDeclared", *args)
    domain = settlement_domain(31337, other)
    trades = []
    for i in range(3):
        buy, sell = matched_orders(domain, (sender, b"\x05" * 32), (other, b"\x06" * 32), 1 << 248 | 2016 << 232, 10 + i, 5_000, 2**40, i)
        trades.append(Trade(buy, sell, 10 + i, 5_000).as_tuple())
    assert FastCall(st, "settle")(sender, trades, True).data == _web3_data(st, "settle", trades, True)
    admit = (b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, 28_800, other, "AMPD plant 7 unit 1 (simulation identity)")
    assert FastCall(pr, "admit")(sender, *admit).data == _web3_data(pr, "admit", *admit)
    with pytest.raises(ValueError):
        FastCall(em, "noSuchFunction")


def _logs(url: str, event: str) -> list[dict[str, str]]:
    topic = "0x" + keccak256(event.encode()).hex()
    body = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
                                 "params": [{"fromBlock": "0x0", "toBlock": "latest", "topics": [topic]}]}).json()
    return body["result"]


def test_the_simulation_deploys_once_and_uses_the_manifest_addresses(synthetic: dict[str, Path], tmp_path: Path) -> None:
    cfg = SimulationConfig(synthetic["ampd"], synthetic["prices"], units=12, days=2, seed=5, batch=4)
    with AnvilNode.throwaway(anvil_binary(REPO_ROOT), tmp_path / "anvil") as node:
        s = run_simulation(cfg, rpc_url=node.url)
        contracts = s["details"]["contracts"]
        settled = _logs(node.url, "TradeSettled(bytes32,address,address,uint256,uint256,uint256,uint256)")
        transfers = _logs(node.url, "TransferSingle(address,address,address,uint256,uint256)")
        surrendered = _logs(node.url, "Surrendered(uint16,bytes32,uint256,address,uint256,bool,bool)")
        addresses = {k: Web3.to_checksum_address(v) for k, v in contracts.items()}
        # one deployment: no second contract of a name holds code (every contract the chain created is in the manifest)
        created = {Web3.to_checksum_address(r["contractAddress"]) for r in _receipts(node.url) if r["contractAddress"]}
    assert created == set(addresses.values())
    assert s["trades"] > 0 and len(settled) == s["trades"]
    assert {Web3.to_checksum_address(x["address"]) for x in settled} == {addresses["Settlement"]}
    assert {Web3.to_checksum_address(x["address"]) for x in transfers} == {addresses["CarbonAssets"]}
    assert {Web3.to_checksum_address(x["address"]) for x in surrendered} == {addresses["Compliance"]}


def _receipts(url: str) -> list[dict[str, str]]:
    def rpc(method: str, *params: object) -> object:
        return httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()["result"]

    top = int(str(rpc("eth_blockNumber")), 16)
    out = []
    for n in range(top + 1):
        block = rpc("eth_getBlockByNumber", hex(n), False)
        for h in block["transactions"]:  # type: ignore[index]
            out.append(rpc("eth_getTransactionReceipt", h))
    return out  # type: ignore[return-value]
def _web3_data(contract, name: str, *args):  # noqa: ANN001, ANN202 - a web3 contract, its public encoder
    return bytes.fromhex(contract.encode_abi(name, args=list(args))[2:])
