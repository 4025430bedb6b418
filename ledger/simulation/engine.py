"""The compliance-year simulation engine: a national-scale year on a throwaway Anvil
(``carbonledger simulate`` is its command-line wrapper, scripts/simulate.py).

Population: every covered unit of a US EPA AMPD annual unit file becomes one key emitting
enterprise (:mod:`ledger.datasets.ampd`); prices: the real Guangdong daily price series (:mod:`ledger.datasets.prices`);
trades: the seeded plan of :mod:`ledger.simulation.plan`, every trade checked by the exchange rule set
(:mod:`ledger.accounting.exchange_rules`). On a fresh Anvil it then runs the whole year through the
contracts, with ChainClient batches of hundreds of calls:

1. deploy the core, asset, allocation/compliance and market contracts (once: every address
   the run uses is the manifest's, returned in ``details["contracts"]``); admit a verifier, an
   exchange, a settlement bank and every unit as an enterprise (USCC: :func:`ledger.datasets.ampd.simulation_uscc`
   — simulation identities derived from ORISPL + unit id, not real codes);
2. publish the fuel factors (OGE table, converted to kgCO2/GJ × 1e6) and the 2019–2020 benchmark set
   for the simulated year; enrol each unit (coal → COAL_GT300, gas → GAS) and pre-allocate 70 % of
   the same year's output (AMPD has one year, so the basis year is the year itself: an assumption);
3. MRV: each unit declares its fuel heat input (FuelCombustion, MJ) and electricity supplied
   (ElectricitySupplied = gross load, Wh) for the year (month 0); it submits, the regulator assigns
   the verifier, the verifier attests, the regulator confirms; then the final allocation;
4. the settlement bank deposits each buyer's cash; the exchange settles each day's trades through
   Settlement in batches (atomic, ~100 trades per transaction);
5. each unit surrenders min(CEA held, obligation); the chain clock passes the deadline, the average
   price of the last month is published, every period is closed and the compliance table read.

Every figure the chain computes (emissions, allocation, obligation, balances, status) is compared
with the Python mirror; a difference raises :class:`SimulationMismatch`.

Measured (this 2-core machine, shared; ``--seed 2016``, AMPD 2016 + GCP 2016, 195 trading days):
3,100 units (327 excluded), 144,549 trades settled in 1,546 transactions, 39,398 transactions,
15.73 Ggas, 238 s wall clock (MRV 90 s, settlement 110 s ≈ 1,300 trades/s), peak RSS 1.6 GB.

Chain time: the deadline is set 30 days after the chain's clock at period opening and passed
with ``evm_increaseTime``; it is a simulation clock, not the calendar date of a real deadline.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

from ledger.accounting.assets import cea_id
from ledger.accounting.compliance import BENCHMARKS_2019_2020, CITATION_FIELDS, PERIOD_FIELDS, PERIOD_PRESETS
from ledger.accounting.emissions import fuel_co2_code
from ledger.accounting.settlement import Trade as SettlementTrade
from ledger.accounting.settlement import matched_orders, settlement_domain
from ledger.chain.anvil import AnvilNode, advance_time, anvil_binary, set_balances
from ledger.chain.client import Call, ChainClient, FastCall, TxResult
from ledger.contracts.compiler import REPO_ROOT, compile_contracts
from ledger.contracts.deploy import deploy_all
from ledger.contracts.deployment import BINDINGS, Deployment
from ledger.crypto.primitives import SECP256K1_N, keccak256
from ledger.datasets.ampd import CATEGORY_BENCHMARK, Population, SimUnit, build_population, simulation_uscc
from ledger.datasets.prices import load_gcp, select_window
from ledger.identifiers import make_uscc, org_id, uscc_bytes32
from ledger.simulation.plan import Participant, TradingPlan, participants_from, plan_trades
from ledger.store.db import make_engine, sqlite_url

DEFAULT_FACTORS_REL = Path("..") / "emission_factors" / "oge_emission_factors_for_co2_ch4_n2o.csv"
"""Default factor table, relative to the AMPD file's directory (../shared/data layout)."""
ENTERPRISE_UTC_OFFSET = 28_800
"""UTC offset the simulated enterprises are admitted with (+08:00, DESIGN.md §5 default)."""
PERIOD_DAYS = 30
"""Days between opening the compliance period and its (simulation-clock) deadline."""
GAS_LIMIT = {"admit": 600_000, "fuel": 800_000, "electricity": 600_000, "submit": 150_000, "assignVerifier": 150_000,
             "attest": 200_000, "confirm": 300_000, "deposit": 300_000, "surrender": 400_000,
             "assignFactorSet": 150_000, "enrolSources": 400_000}
"""Fixed gas limits of the bulk calls (≈ 2.4–3.4 × the gas they were measured to use, see the run's
``gas_by_call``): the node then executes each once instead of also estimating it (Anvil's
eth_estimateGas searches, executing a call several times). Gas is free on the throwaway node (price 0);
a call that still fails reverts and is decoded (ChainClient._explain_revert)."""
SETTLE_GAS_PER_TRADE, SETTLE_GAS_BASE = 250_000, 300_000
"""Gas limit of a settle transaction: base + per trade. Measured with contracts v2's signed orders
(both orders' EIP-712 signatures checked and their fills recorded): 56 trades of the 40-unit, 3-day
AMPD 2016 slice used 8,436,462 gas in 3 transactions (≈ 150,700 a trade), the 20-trade one
3,413,874 (≈ 170,700 a trade); the former 150,000 a trade ran out of gas (``unknown()`` revert)."""
ACTIVITY_FUEL, ACTIVITY_ELECTRICITY = 4, 2
ORDER_EXPIRY = 2**40
"""Expiry (UTC seconds) of the simulated members' orders: they fill the same run."""
"""EmissionsRegistry.ActivityType values used (FuelCombustion, ElectricitySupplied)."""

SERVICE_USCC = {"regulator": "11100000MB1C0001", "verifier": "91110105MA02WF3R", "exchange": "91310000MA1FL1EX",
                "bank": "91110000MA01BK9C"}
"""Parts (authority, type, division, organisation body) of the service organisations' simulation USCCs
(check characters computed by make_uscc; not real codes)."""



class SimulationMismatch(RuntimeError):
    """A figure read from the chain differs from the Python mirror."""


class SimulationInputError(ValueError):
    """The inputs leave nothing to simulate (e.g. no covered unit)."""


class PhaseSink(Protocol):
    """Where the engine reports its phases (a progress bar; see scripts/simulate.py)."""

    def start(self, name: str, total: int) -> None:
        """A phase of ``total`` steps begins."""

    def advance(self, n: int) -> None:
        """``n`` more steps of the current phase are done."""

    def done(self) -> None:
        """The current phase is over."""


@dataclass
class SimulationConfig:
    """What to simulate.

    Attributes:
        ampd: AMPD annual unit CSV. prices: GCP-style daily price CSV.
        factors: OGE factor table (default: ``<ampd dir>/../emission_factors/oge_…csv``).
        units: simulate only the first N covered units (file order); None: all.
        seed: fixes account keys, phases and the daily matching order.
        year: compliance year (default: the AMPD file's year); trading days default to that year.
        start, end, days: trading-day window (inclusive dates; at most ``days`` days).
        cadence: a unit trades every ``cadence``-th trading day (:func:`ledger.simulation.plan.plan_trades`).
        batch: trades per Settlement.settle transaction.
        calls_per_send: calls per ChainClient.send (one JSON-RPC batch round).
        work_dir: where the throwaway node and the journal live (a temporary directory inside it).
        project_root: where the contracts and node_modules are (default: this checkout).
    """

    ampd: Path
    prices: Path
    factors: Path | None = None
    units: int | None = None
    seed: int = 0
    year: int | None = None
    start: date | None = None
    end: date | None = None
    days: int | None = None
    cadence: int = 1
    batch: int = 100
    calls_per_send: int = 600
    work_dir: Path | None = None
    project_root: Path = REPO_ROOT




@dataclass
class _Phases:
    sink: PhaseSink | None
    timings: dict[str, float] = field(default_factory=dict)
    gas_by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind → [transactions, total gas, max gas]
    _name: str = ""
    _t0: float = 0.0

    def start(self, name: str, total: int) -> None:
        self._name, self._t0 = name, time.perf_counter()
        if self.sink is not None:
            self.sink.start(name, max(total, 1))

    def advance(self, n: int = 1) -> None:
        if self.sink is not None:
            self.sink.advance(n)

    def done(self) -> None:
        self.timings[self._name] = round(time.perf_counter() - self._t0, 2)
        if self.sink is not None:
            self.sink.done()


def _chunks(seq: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _key(seed: int, name: str) -> bytes:
    """Deterministic private key of a simulation account (seeded; never a real key)."""
    i = 0
    while True:
        k = keccak256(f"carbonledger simulation {seed} {name} {i}".encode())
        if 0 < int.from_bytes(k, "big") < SECP256K1_N:
            return k
        i += 1


def _fuel_code(code: str) -> bytes:
    return code.encode().ljust(32, b"\0")


def _send_all(client: ChainClient, calls: list[Call], phases: _Phases, per_send: int, weight: int = 1) -> list[TxResult]:
    """Send ``calls`` in ChainClient batches of ``per_send``; the progress bar moves ``weight`` per call.
    Gas used is tallied per call kind (first word of the label)."""
    out = []
    for chunk in _chunks(calls, per_send):
        res = client.send(list(chunk))
        _tally(phases, res)
        out.extend(res)
        phases.advance(len(chunk) * weight)
    return out


def _tally(phases: _Phases, results: Iterable[Any]) -> None:
    for r in results:
        t = phases.gas_by_kind.setdefault(r.label.split()[0], [0, 0, 0])
        t[0] += 1
        t[1] += r.gas_used
        t[2] = max(t[2], r.gas_used)


def load_inputs(cfg: SimulationConfig) -> tuple[Population, Population, TradingPlan, list[Participant], int, int]:
    """Population (full and sliced), the trading plan, participants, compliance year and the
    penalty reference price (fen): the volume-weighted average price of the plan's trades in the
    last 30 days of the window, else the window's last close (Art. 24's "average price of the
    month before the deadline", taken from the simulated market).

    Raises:
        SimulationInputError: no covered unit in the (sliced) population.
        FileNotFoundError / ValueError: from the AMPD, factor and price loaders.
    """
    factors = cfg.factors or (cfg.ampd.parent / DEFAULT_FACTORS_REL)
    full = build_population(cfg.ampd, factors)
    pop = full.sliced(cfg.units)
    if not pop.units:
        raise SimulationInputError("no covered unit to simulate")
    year = cfg.year or pop.units[0].unit.year
    start, end = cfg.start or date(year, 1, 1), cfg.end or date(year, 12, 31)
    window, prev = select_window(load_gcp(cfg.prices), start, end, cfg.days)
    parts = participants_from(pop.units)
    plan = plan_trades(parts, window, cfg.seed, cadence=cfg.cadence, previous_close_fen=prev, asset_id=cea_id(year))
    last = window[-1].day
    recent = [t for d in plan.days if d.day > last - timedelta(days=30) for t in d.trades]
    qty = sum(t.quantity_t for t in recent)
    price = (2 * sum(t.value_fen for t in recent) + qty) // (2 * qty) if qty else plan.days[-1].close_fen
    return full, pop, plan, parts, year, price


def run_simulation(cfg: SimulationConfig, progress: PhaseSink | None = None, rpc_url: str | None = None
                   ) -> dict[str, Any]:
    """Run the whole compliance year on a throwaway Anvil (:meth:`AnvilNode.throwaway`), or on the
    node at ``rpc_url`` (a fresh Anvil with base fee 0, as the throwaway one: gas is priced at 0 and
    accounts are funded with ``anvil_setBalance``); returns
    the summary dict (keys of the ``--report-json`` file plus ``details``; ``details["contracts"]``
    names the manifest's addresses, the only contracts the run deployed and used).

    Raises:
        SimulationInputError: nothing to simulate.
        SimulationMismatch: a chain figure differs from the Python mirror.
        ContractRevert / ChainError: the chain refused something (a bug or a bad input).
        NodeError: the throwaway node did not start.
    """
    t_start = time.perf_counter()
    phases = _Phases(progress)
    phases.start("load data and plan trades", 1)
    full, pop, plan, parts, year, penalty_price = load_inputs(cfg)
    phases.done()
    units: list[SimUnit] = pop.units
    by_key = {p.key: p for p in parts}
    with tempfile.TemporaryDirectory(prefix="carbonledger-sim-", dir=cfg.work_dir) as tmp:
        if rpc_url is None:
            with AnvilNode.throwaway(anvil_binary(cfg.project_root), Path(tmp) / "anvil") as node:
                summary = _run_on_chain(cfg, node.url, Path(tmp), phases, units, by_key, plan, year, penalty_price)
        else:
            summary = _run_on_chain(cfg, rpc_url, Path(tmp), phases, units, by_key, plan, year, penalty_price)
    seconds = time.perf_counter() - t_start
    summary["seconds"] = round(seconds, 2)
    summary["details"]["timings_s"] = phases.timings
    summary["details"]["gas_by_call"] = {k: {"transactions": n, "gas_total": g, "gas_mean": g // n, "gas_max": m}
                                         for k, (n, g, m) in sorted(phases.gas_by_kind.items())}
    summary["details"]["transactions_per_second"] = round(summary["transactions"] / seconds, 1)
    summary["details"]["trades_per_second_in_settlement"] = round(
        summary["trades"] / max(phases.timings.get("settle trades", 0.0), 1e-9), 1)
    summary["excluded"] = len(full.excluded)
    summary["details"]["excluded_by_reason"] = pop.excluded_counts
    summary["details"]["rows"] = full.rows
    summary["details"]["emissions_vs_file_co2"] = pop.compare_with_file().as_dict()["overall"]
    keys = ["units", "excluded", "emissions_t", "allocation_t", "trades", "settled_t", "settled_fen", "compliant",
            "shortfall", "transactions", "gas_used", "seconds"]
    return {k: summary[k] for k in keys} | {"details": summary["details"]}




def _run_on_chain(cfg: SimulationConfig, rpc_url: str, tmp: Path, phases: _Phases, units: list[SimUnit],
                  by_key: dict[str, Participant], plan: TradingPlan, year: int, penalty_price: int) -> dict[str, Any]:
    per = cfg.calls_per_send
    phases.start("compile and deploy", 1)
    root = cfg.project_root
    artifacts = compile_contracts(root, root / ".carbonledger" / "build")
    client = ChainClient(rpc_url, make_engine(sqlite_url(tmp / "journal.sqlite")),
                         error_abis=[a.abi for a in artifacts.values()], gas_price=0)
    names = ["regulator", "verifier", "exchange", "bank"]
    acct = {n: client.add_account(_key(cfg.seed, n)) for n in names}
    ent = {u.key: client.add_account(_key(cfg.seed, "unit " + u.key)) for u in units}
    set_balances(client, [*acct.values(), *ent.values()])
    reg = acct["regulator"]
    uscc = {n: make_uscc(c[0], c[1], c[2:8], c[8:16]) for n, c in SERVICE_USCC.items()}
    manifest = deploy_all(client, artifacts, reg, org_id(uscc["regulator"]), uscc_bytes32(uscc["regulator"]))
    dep = Deployment(client, manifest)
    # deploy_all deploys every contract (core, assets, market, allocation/compliance): the run uses
    # the manifest's addresses, never a second set (scripts/simulate.py once deployed the market twice)
    addresses = {n: i["address"] for n, i in manifest["contracts"].items()}
    c = {n: BINDINGS[n](client, addresses[n])
         for n in ("CarbonAssets", "CashToken", "Settlement", "Allocation", "Compliance")}
    pr = dep.participants.functions
    phases.done()

    # ------------------------------------------------------------------ participants
    phases.start("admit participants", len(units) + 3)
    roles = {"verifier": "VERIFIER_ROLE", "exchange": "EXCHANGE_ROLE", "bank": "SETTLEMENT_BANK_ROLE"}
    calls = [Call.of(pr.admit(org_id(uscc[n]), dep.role(r), uscc_bytes32(uscc[n]), ENTERPRISE_UTC_OFFSET, acct[n],
                              f"simulation {n}"), reg, f"admit {n}", GAS_LIMIT["admit"]) for n, r in roles.items()]
    ent_role = dep.role("ENTERPRISE_ROLE")
    unit_uscc = {u.key: simulation_uscc(u.unit.orispl, u.unit.unit_id) for u in units}
    org = {k: org_id(v) for k, v in unit_uscc.items()}
    admit = FastCall(dep.participants, "admit")
    calls += [admit(reg, org[u.key], ent_role, uscc_bytes32(unit_uscc[u.key]), ENTERPRISE_UTC_OFFSET, ent[u.key],
                    f"AMPD {u.unit.facility} unit {u.unit.unit_id} (simulation identity)"[:120], label=f"admit {u.key}",
                    gas=GAS_LIMIT["admit"]) for u in units]
    _send_all(client, calls, phases, per)
    phases.done()

    # ------------------------------------------------------------------ factors, benchmarks, period
    phases.start("publish factors, benchmarks, period; enrol; pre-allocate", len(units) * 2)
    fuels = sorted({(u.mapping.energy_source_code, u.factor_scaled) for u in units})
    codes = [fuel_co2_code(_fuel_code(code)) for code, _ in fuels]
    r = client.send([Call.of(dep.factors.functions.publishFactorSet(
        year, year, codes, [v for _, v in fuels], [6] * len(fuels),
        "OGE emission_factors_for_co2_ch4_n2o.csv (singularity-energy/open-grid-emissions @ 4ac110c8; EPA 2009) "
        "short t CO2/MMBtu × 907.18474 ÷ 1.05505585262 → kgCO2/GJ × 1e6 (simulation factor set)",
        f"AMPD simulation {year}"), reg)])[0]
    factor_set = int(dep.factors.decode_events(r, "FactorSetPublished")[0].factorSetId)
    bench = [b.as_input() for b in BENCHMARKS_2019_2020.benchmarks if b.category in CATEGORY_BENCHMARK.values()]
    alloc, comp = c["Allocation"].functions, c["Compliance"].functions
    r = client.send([Call.of(alloc.publishBenchmarkSet(
        year, year, BENCHMARKS_2019_2020.pre_allocation_bps, bench,
        BENCHMARKS_2019_2020.citation + f"; applied to the simulated year {year} (AMPD data)"), reg)])[0]
    set_id = int(c["Allocation"].decode_events(r, "BenchmarkSetPublished")[0].setId)
    now = int(client.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    deadline = now + PERIOD_DAYS * 86_400
    preset = PERIOD_PRESETS[2019]
    params = dict(preset.params, deadline=deadline, ceaVintageFrom=year, ceaVintageTo=year)
    cites = dict(preset.citations, deadline=f"simulation clock: {PERIOD_DAYS} days after the period opened "
                 "(the real 2019–2020 deadline was 环办气候函〔2021〕492号)")
    client.send([Call.of(comp.openPeriod(year, tuple(params[k] for k in PERIOD_FIELDS),
                                         tuple(cites[k] for k in CITATION_FIELDS)), reg)])
    cat = {k: CATEGORY_BENCHMARK[by_key[k].category].encode().ljust(32, b"\0") for k in ent}
    calls = [Call.of(alloc.enrolBatch([org[u.key] for u in ch], [cat[u.key] for u in ch], [ent[u.key] for u in ch]),
                     reg, "enrolBatch") for ch in _chunks(units, 200)]
    _send_all(client, calls, phases, per, 200)
    calls = [Call.of(alloc.preAllocateBatch(year, set_id, [org[u.key] for u in ch], [u.electricity_wh for u in ch],
                                            [0] * len(ch), [keccak256(f"basis {u.key}".encode()) for u in ch]),
                     reg, "preAllocateBatch") for ch in _chunks(units, 100)]
    _send_all(client, calls, phases, per, 100)
    phases.done()

    # ------------------------------------------------------------------ MRV
    phases.start("MRV: factor set, enrol, declare, submit, assign, attest, confirm", len(units) * 12)
    # completeness (issue 12): the regulator assigns the factor set and enrols each unit's two
    # sources (its fuel, its electricity supplied), so its year closes only when both are confirmed
    assign_set, enrol = FastCall(dep.emissions, "assignFactorSet"), FastCall(dep.emissions, "enrolSources")
    _send_all(client, [assign_set(reg, org[u.key], year, factor_set, label=f"factor set {u.key}",
                                  gas=GAS_LIMIT["assignFactorSet"]) for u in units], phases, per)
    _send_all(client, [enrol(reg, org[u.key], year, [ACTIVITY_FUEL, ACTIVITY_ELECTRICITY],
                             [_fuel_code(u.mapping.energy_source_code), b"\0" * 32], label=f"enrol {u.key}",
                             gas=GAS_LIMIT["enrolSources"]) for u in units], phases, per)
    evidence = {u.key: keccak256(f"AMPD {year} line {u.unit.line} {u.key}".encode()) for u in units}
    calls = []
    declare = FastCall(dep.emissions, "recordDeclared")
    for u in units:
        calls.append(declare(ent[u.key], ACTIVITY_FUEL, _fuel_code(u.mapping.energy_source_code), year, 0, u.heat_input_mj,
                             factor_set, evidence[u.key], 0, label=f"fuel {u.key}", gas=GAS_LIMIT["fuel"]))
        calls.append(declare(ent[u.key], ACTIVITY_ELECTRICITY, b"\0" * 32, year, 0, u.electricity_wh, 0, evidence[u.key], 0,
                             label=f"electricity {u.key}", gas=GAS_LIMIT["electricity"]))
    results = _send_all(client, calls, phases, per)
    record_ids: list[tuple[str, int]] = []
    for call, res in zip(calls, results):
        ev = dep.emissions.decode_events(res, "ActivityRecorded")[0]
        record_ids.append((call.sender, ev.recordId))
    submit, assign = FastCall(dep.emissions, "submit"), FastCall(dep.emissions, "assignVerifier")
    attest, confirm = FastCall(dep.emissions, "attest"), FastCall(dep.emissions, "confirm")
    report = keccak256(f"simulation verification report {year}".encode())
    _send_all(client, [submit(sender, rid, gas=GAS_LIMIT["submit"]) for sender, rid in record_ids], phases, per)
    _send_all(client, [assign(reg, rid, acct["verifier"], gas=GAS_LIMIT["assignVerifier"]) for _, rid in record_ids],
              phases, per)
    _send_all(client, [attest(acct["verifier"], rid, report, b"\0" * 32, gas=GAS_LIMIT["attest"]) for _, rid in record_ids],
              phases, per)
    _send_all(client, [confirm(reg, rid, gas=GAS_LIMIT["confirm"]) for _, rid in record_ids], phases, per)
    phases.done()

    phases.start("final allocation", len(units))
    _send_all(client, [Call.of(alloc.finalAllocateBatch(year, [org[u.key] for u in ch]), reg, "finalAllocateBatch")
                       for ch in _chunks(units, 100)], phases, per, 100)
    phases.done()
    cea = cea_id(year)
    balances = _balances(client, c["CarbonAssets"], [ent[u.key] for u in units], cea)
    for u in units:
        if balances[ent[u.key]] != u.allocation_t:
            raise SimulationMismatch(f"{u.key}: CEA {balances[ent[u.key]]} on-chain after final allocation, "
                                     f"Python allocation {u.allocation_t}")

    # ------------------------------------------------------------------ cash and trades
    cash_need = plan.cash_needed_fen()
    phases.start("deposit buyers' cash", len(cash_need))
    deposit = FastCall(c["CashToken"], "deposit")
    _send_all(client, [deposit(acct["bank"], ent[k], v, keccak256(f"sim deposit {cfg.seed} {k}".encode()),
                               label=f"deposit {k}", gas=GAS_LIMIT["deposit"]) for k, v in sorted(cash_need.items())],
              phases, per)
    phases.done()
    phases.start("settle trades", plan.trade_count)
    settle = FastCall(c["Settlement"], "settle")
    domain = settlement_domain(client.chain_id, c["Settlement"].address)
    calls = []
    for d in plan.days:
        for ch in _chunks(d.trades, cfg.batch):
            trades = []
            for t in ch:  # each trade fills the seller's and the buyer's signed orders (their consent)
                nonce = int.from_bytes(keccak256(f"sim {cfg.seed} {d.day.isoformat()} {t.trade_id}".encode()))
                buy, sell = matched_orders(domain, (ent[t.seller], _key(cfg.seed, "unit " + t.seller)),
                                           (ent[t.buyer], _key(cfg.seed, "unit " + t.buyer)), cea, t.quantity_t,
                                           t.price_fen, ORDER_EXPIRY, nonce)
                trades.append(SettlementTrade(buy, sell, t.quantity_t, t.price_fen).as_tuple())
            calls.append((len(ch), settle(acct["exchange"], trades, True, label=f"settle {d.day} ({len(ch)})",
                                          gas=SETTLE_GAS_BASE + SETTLE_GAS_PER_TRADE * len(ch))))
    settled_events = 0
    for group in _chunks(calls, max(1, per // 30)):
        res = client.send([cl for _, cl in group])
        _tally(phases, res)
        for (n, _), r in zip(group, res):
            settled_events += len(c["Settlement"].decode_events(r, "TradeSettled"))
            phases.advance(n)
    if settled_events != plan.trade_count:
        raise SimulationMismatch(f"{settled_events} TradeSettled events, plan has {plan.trade_count} trades")
    phases.done()

    # ------------------------------------------------------------------ surrender
    holdings = _balances(client, c["CarbonAssets"], [ent[u.key] for u in units], cea)
    bought, sold = plan.bought_t(), plan.sold_t()
    surrender: dict[str, int] = {}
    for u in units:
        expect = u.allocation_t + bought.get(u.key, 0) - sold.get(u.key, 0)
        if holdings[ent[u.key]] != expect:
            raise SimulationMismatch(f"{u.key}: holds {holdings[ent[u.key]]} CEA after trading, expected {expect}")
        surrender[u.key] = min(expect, by_key[u.key].obligation_t)
    phases.start("surrender", sum(1 for v in surrender.values() if v))
    give = FastCall(c["Compliance"], "surrender")
    _send_all(client, [give(ent[k], year, cea, v, label=f"surrender {k}", gas=GAS_LIMIT["surrender"])
                       for k, v in surrender.items() if v], phases, per)
    phases.done()

    # ------------------------------------------------------------------ close
    phases.start("deadline, price, close periods, compliance table", len(units))
    advance_time(client, deadline - int(client.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16) + 1)
    client.send([Call.of(comp.publishPrice(year, penalty_price,
                                           "simulated market: VWAP of the plan's trades in the last 30 days of the window "
                                           "(条例 Art. 24 average price of the month before the deadline)"), reg)])
    _send_all(client, [Call.of(comp.closeBatch(year, [org[u.key] for u in ch]), reg, "closeBatch")
                       for ch in _chunks(units, 100)], phases, per)
    rows: list[Any] = []
    for ch in _chunks(units, 200):
        rows.extend(client.call(comp.statusTable(year, [org[u.key] for u in ch])))
        phases.advance(len(ch))
    phases.done()
    status_names = {1: "Compliant", 2: "Shortfall", 3: "CorrectedLate"}
    counts = {"Compliant": 0, "Shortfall": 0}
    emissions_t = allocation_t = shortfall_t = 0
    pen_min = pen_max = 0
    for u, row in zip(units, rows):
        p = by_key[u.key]
        e, a, ob, st = row.emissionsT, row.allocationT, row.obligation, row.status
        if (e, a, ob) != (p.emissions_t, p.allocation_t, p.obligation_t):
            raise SimulationMismatch(f"{u.key}: chain E/A/obligation {(e, a, ob)} vs Python "
                                     f"{(p.emissions_t, p.allocation_t, p.obligation_t)}")
        expected = "Compliant" if surrender[u.key] >= p.obligation_t else "Shortfall"
        if status_names.get(st) != expected:
            raise SimulationMismatch(f"{u.key}: status {status_names.get(st, st)} on-chain, expected {expected}")
        counts[expected] += 1
        emissions_t += e
        allocation_t += a
        shortfall_t += row.shortfall
        pen_min += row.penaltyMinFen
        pen_max += row.penaltyMaxFen
    return {
        "units": len(units),
        "emissions_t": emissions_t, "allocation_t": allocation_t, "trades": plan.trade_count,
        "settled_t": plan.settled_t, "settled_fen": plan.settled_fen, "compliant": counts["Compliant"],
        "shortfall": counts["Shortfall"], "transactions": client.tx_count, "gas_used": client.gas_used,
        "details": {
            "year": year, "seed": cfg.seed, "cadence": cfg.cadence, "trades_per_settle_tx": cfg.batch,
            "trading_days": len(plan.days), "first_day": plan.days[0].day.isoformat(),
            "last_day": plan.days[-1].day.isoformat(), "clamped_days": sum(1 for d in plan.days if d.clamped),
            "buyers": len(plan.need_t), "sellers": len(plan.surplus_t), "need_t": sum(plan.need_t.values()),
            "surplus_t": sum(plan.surplus_t.values()), "unmet_t": sum(plan.unmet_t.values()),
            "unsold_t": sum(plan.unsold_t.values()), "obligation_t": sum(p.obligation_t for p in by_key.values()),
            "surrendered_t": sum(surrender.values()), "shortfall_t": shortfall_t,
            "penalty_price_fen": penalty_price, "penalty_min_fen": pen_min, "penalty_max_fen": pen_max,
            "factor_set": factor_set, "benchmark_set": set_id, "contracts": addresses,
        },
    }


def _balances(client: ChainClient, assets: Any, accounts: list[str], token: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for ch in _chunks(accounts, 400):
        vals = client.call(assets.functions.balanceOfBatch(list(ch), [token] * len(ch)))
        out.update(zip(ch, (int(v) for v in vals)))
    return out


