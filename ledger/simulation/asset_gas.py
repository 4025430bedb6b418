"""Gas per asset operation on a throwaway embedded Anvil node (paris, the project's compiler
settings): issue CEA, issue a CCER batch with serials, transfer, retire CEA, retire CCER with
serials (allocated and explicit), settle one trade, settle 100 trades in one transaction, and
surrender CEA and CCER to a compliance year (:func:`_surrender_gas`: one coal unit with a
confirmed year of records, its final allocation and an open period).

Figures are whole-transaction gas (``gasUsed`` of the receipt: 21,000 base + calldata +
execution). "new" means the receiving balance slot was empty before (SSTORE from zero); "existing
receiver balance" is the warm transfer (the receiver already holds the id, both parties' admission
cached in CarbonAssets), whose target is :data:`WARM_TRANSFER_ANCHOR_GAS`.
``python -m scripts.bench_assets_gas`` prints them. With ``rpc_url`` and ``funder_key`` the same
measurement runs on any standard JSON-RPC node (the consortium network: a fresh deployment,
accounts paid by a value transfer from the funded key) — ``carbonledger bench table``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from ledger.accounting.assets import ccer_id, cea_id
from ledger.accounting.compliance import BENCHMARKS_2019_2020, PERIOD_FIELDS, PERIOD_PRESETS, category_id
from ledger.accounting.emissions import fuel_co2_code
from ledger.accounting.settlement import Trade, matched_orders, settlement_domain
from ledger.chain.anvil import AnvilNode, anvil_binary, free_port, set_balances
from ledger.chain.client import Call, ChainClient
from ledger.contracts.compiler import REPO_ROOT, Artifact, compile_contracts
from ledger.contracts.deploy import deploy_all
from ledger.contracts.deployment import BINDINGS, Deployment
from ledger.crypto.primitives import keccak256, new_private_key
from ledger.identifiers import make_uscc, org_id, uscc_bytes32
from ledger.offsets.serials import RetirementRequest, SerialRange
from ledger.store.db import make_engine, sqlite_url

ORGS = {  # name: (USCC, role)
    "seller": (make_uscc("9", "1", "110108", "MA01CL7K"), "ENTERPRISE_ROLE"),
    "buyer": (make_uscc("9", "1", "320500", "MA06EN22"), "ENTERPRISE_ROLE"),
    "exchange": (make_uscc("9", "1", "310101", "MA08EX01"), "EXCHANGE_ROLE"),
    "registry": (make_uscc("1", "2", "110102", "MB09RG01"), "REGISTRY_ROLE"),
    "bank": (make_uscc("9", "1", "110102", "MA10BK01"), "SETTLEMENT_BANK_ROLE"),
    "owner": (make_uscc("9", "1", "620102", "MA11PW01"), "PROJECT_OWNER_ROLE"),
    "verifier": (make_uscc("9", "1", "110105", "MA12JC01"), "VERIFIER_ROLE"),
}
REGULATOR_USCC = make_uscc("1", "1", "110000", "MB1C0001")


#: Compliance year of the surrender figures (CEA vintage 2021 and the CCER batch of vintage 2021 are eligible).
SURRENDER_YEAR = 2021
#: Coal CO2 factor, kgCO2/GJ × 10^6: 0.03085 tC/GJ (MEE notice of 8 Jun 2022, CONFIRMED-S) × 99 %
#: oxidation (PARTIAL) × 44/12 = 111.9855 kgCO2/GJ (the factor tests/test_allocation_compliance.py uses).
COAL_CO2_FACTOR = 111_985_500
#: EmissionsRegistry.ActivityType of electricity supplied and of fuel combustion.
ELECTRICITY_SUPPLIED, FUEL_COMBUSTION = 2, 4

#: The issue 12 target for a warm CarbonAssets transfer (``"transfer, existing receiver balance"``: the
#: receiver already holds the id): hyperledger-labs blockchain-carbon-accounting's ERC-1155 warm
#: transfer, 52,866 gas measured on the same Anvil (issue 12 "Contracts v2"; docs/gas.md). A plain
#: OpenZeppelin ERC1155 transfer without any check costs about 40,000.
WARM_TRANSFER_ANCHOR_GAS = 52_866

#: Gas money each measuring account receives from ``funder_key`` on a network (wei; the
#: heaviest account deploys every contract: ~40 M gas at geth's 1 gwei floor price = 0.04 ether).
NETWORK_FUNDING_WEI = 10**21


def measure_asset_gas(project_root: Path = REPO_ROOT, *, rpc_url: str | list[str] | None = None,
                      funder_key: bytes | None = None, pieces: int = 1_000,
                      timings: dict[str, float] | None = None) -> dict[str, int]:
    """Deploy once and measure; returns {operation: gas used}.

    Args:
        rpc_url: None: a throwaway embedded Anvil node (accounts funded by ``anvil_setBalance``);
            else a node (or the fail-over URLs of one network) that gets a fresh deployment.
        funder_key: with ``rpc_url``, a funded key that pays :data:`NETWORK_FUNDING_WEI` to each
            measuring account (None: ``anvil_setBalance``, i.e. an external Anvil).
        pieces: retirements of three serials each from one block, for the "n-th piece" figure
            (the row's label names the count; default 1,000).
        timings: if given, receives ``settle_100_s``: wall seconds from signing the 100-trade
            settlement to its receipt (trades per second = 100 / that).

    Raises:
        NodeError: the node did not start. ContractRevert: an operation was refused (a bug).
        ValueError: ``pieces`` < 1.
    """
    if pieces < 1:
        raise ValueError(f"pieces must be >= 1, got {pieces}")
    artifacts = compile_contracts(project_root, project_root / ".carbonledger" / "build")
    with tempfile.TemporaryDirectory() as tmp:
        if rpc_url is not None:
            return _measure(rpc_url, artifacts, Path(tmp), funder_key, pieces, timings)
        node = AnvilNode(anvil_binary(project_root), Path(tmp) / "anvil", port=free_port())
        node.start()
        try:
            return _measure(node.url, artifacts, Path(tmp), None, pieces, timings)
        finally:
            node.stop(snapshot=False)


def _measure(url: str | list[str], artifacts: dict[str, Artifact], tmp: Path, funder_key: bytes | None, pieces: int,
             timings: dict[str, float] | None) -> dict[str, int]:
    client = ChainClient(url, make_engine(sqlite_url(tmp / "journal.sqlite")), error_abis=[a.abi for a in artifacts.values()])
    keys = {n: new_private_key() for n in ["regulator", "issuer", *ORGS]}
    acct = {n: client.add_account(k) for n, k in keys.items()}
    if funder_key is None:
        set_balances(client, acct.values())
    else:
        funder = client.add_account(funder_key)
        client.send([Call(funder, a, b"", f"fund {n}", value=NETWORK_FUNDING_WEI) for n, a in acct.items()])
    reg = acct["regulator"]
    dep = Deployment(client, deploy_all(client, artifacts, reg, org_id(REGULATOR_USCC), uscc_bytes32(REGULATOR_USCC)))
    client.send([Call.of(dep.participants.functions.admit(org_id(u), dep.role(r), uscc_bytes32(u), 28800, acct[n], n), reg)
                 for n, (u, r) in ORGS.items()])
    # the manifest's contracts (deploy_all deploys the market too; never a second set)
    addrs = {n: i["address"] for n, i in dep.manifest["contracts"].items()}
    c = lambda name: BINDINGS[name](client, addrs[name])  # noqa: E731
    assets, registry, cash, settlement = c("CarbonAssets"), c("CCERRegistry"), c("CashToken"), c("Settlement")
    client.send([Call.of(assets.functions.grantOperator(client.call(assets.functions.CEA_ISSUER_ROLE()), acct["issuer"]), reg)])

    def gas(fn: Any, who: str) -> int:
        return client.send([Call.of(fn, acct[who])])[0].gas_used

    g: dict[str, int] = {}
    cea, ref = cea_id(2021), keccak256(b"allocation 2021")
    g["issue CEA (EOA with CEA_ISSUER_ROLE), new holder"] = gas(assets.functions.issue(acct["seller"], cea, 1_000_000, ref), "issuer")
    g["issue CEA, existing holder"] = gas(assets.functions.issue(acct["seller"], cea, 1_000, ref), "issuer")
    client.send([Call.of(registry.functions.registerProject(1001, acct["owner"], keccak256(b"CCER-14-001-V01"), bytes(32),
                                                             1_700_000_000, 1_600_761_600, "wind farm"), acct["registry"])])
    prefix = "CCER-CN-1001-2021-"
    g["issueBatch CCER with serials (first batch of the prefix)"] = gas(
        registry.functions.issueBatch(1001, 2021, 100_000, prefix, 1, 100_000, ref), "registry")
    g["issueBatch CCER with serials (next batch, same prefix)"] = gas(
        registry.functions.issueBatch(1001, 2021, 100_000, prefix, 100_001, 200_000, ref), "registry")
    g["transfer (safeTransferFrom), new receiver balance"] = gas(
        assets.functions.safeTransferFrom(acct["seller"], acct["buyer"], cea, 10, b""), "seller")
    g["transfer, existing receiver balance"] = gas(
        assets.functions.safeTransferFrom(acct["seller"], acct["buyer"], cea, 10, b""), "seller")
    g["retire CEA (holder)"] = gas(assets.functions.retire(cea, 5, "Seattle City Light", "Environmental Benefit", "Q1"), "seller")
    owner = acct["owner"]
    req = RetirementRequest(owner, 1, 62, "Seattle City Light", "Environmental Benefit", "Applied to EY 2017")
    g["retire CCER, serials allocated (first of the prefix)"] = gas(registry.functions.retire(req.as_tuple()), "owner")
    g["retire CCER, serials allocated (next)"] = gas(registry.functions.retire(req.as_tuple()), "owner")
    explicit = RetirementRequest(owner, 1, 100, "Seattle City Light", "Environmental Benefit", "",
                                 SerialRange(prefix, 50_001, 50_100))
    g["retire CCER, explicit serial range"] = gas(registry.functions.retire(explicit.as_tuple()), "owner")
    # many pieces of one block, as in real retirement files: gas must not grow
    calls = [Call.of(registry.functions.retire(RetirementRequest(owner, 2, 3, "b", "p", "", SerialRange(prefix, s, s + 2)).as_tuple()),
                     acct["owner"], gas=500_000) for s in range(100_001, 100_001 + 3 * pieces, 3)]
    res = []
    for i in range(0, len(calls), 200):
        res += client.send(calls[i:i + 200])
    g[f"retire CCER, explicit range, {pieces:,}th piece of one block"] = res[-1].gas_used

    client.send([Call.of(cash.functions.deposit(acct["buyer"], 10**13, keccak256(b"bank-1")), acct["bank"]),
                 Call.of(settlement.functions.setFeeAccount(acct["exchange"]), acct["exchange"])])
    client.send([Call.of(cash.functions.deposit(acct["seller"], 10**13, keccak256(b"bank-2")), acct["bank"])])

    domain = settlement_domain(client.chain_id, settlement.address)
    seller, buyer = (acct["seller"], keys["seller"]), (acct["buyer"], keys["buyer"])

    def trades(tag: str, n: int) -> list[tuple[Any, ...]]:
        out = []
        for i in range(n):  # one pair of signed orders per trade (the members' consent), fee cap 49 fen/t
            q, p = 1 + i % 9, 9_796 + i
            buy, sell = matched_orders(domain, seller, buyer, cea, q, p, 2**40, int.from_bytes(keccak256(f"{tag}-{i}".encode())), 49)
            out.append(Trade(buy, sell, q, p, 0, 49, 49).as_tuple())
        return out

    g["settle 1 trade (DvP, both fees)"] = gas(settlement.functions.settle(trades("one", 1), True), "exchange")
    hundred_trades = trades("hundred", 100)
    t = time.perf_counter()
    hundred = gas(settlement.functions.settle(hundred_trades, True), "exchange")
    if timings is not None:
        timings["settle_100_s"] = time.perf_counter() - t
    g["settle 100 trades, per transaction"] = hundred
    g["settle 100 trades, per trade"] = hundred // 100
    g["settle 100 trades again (all already settled), per transaction"] = gas(
        settlement.functions.settle(trades("hundred", 100), True), "exchange")

    g.update(_surrender_gas(client, dep, acct, addrs, assets, 1001, 2021))
    return g


def _surrender_gas(client: ChainClient, dep: Deployment, acct: dict[str, str], addrs: dict[str, str], assets: Any,
                   project: int, ccer_vintage: int) -> dict[str, int]:
    """Gas of ``Compliance.surrender`` of CEA and of CCER by the ``seller`` enterprise, set up as
    a coal unit (COAL_GT300) of :data:`SURRENDER_YEAR` through the contracts' own flow: the
    regulator publishes a coal factor set and the 2019–2020 benchmark set (BENCHMARKS_2019_2020),
    enrols and pre-allocates the unit; the unit declares a year of electricity supplied (10^12 Wh)
    and fuel (10^10 MJ of coal, ≈ 1.12 Mt CO2), the verifier attests, the regulator confirms and
    final-allocates; the regulator opens the period with the 2021 preset (PERIOD_PRESETS) except a
    deadline 30 days after the chain's clock and no project-registration cut-off (the CCER test
    project is registered in 2023, after the legacy-CCER cut-off of the preset). The CCER comes
    from the project owner's batch (``project``, ``ccer_vintage``) by a transfer.

    Returns:
        {"surrender CEA (enterprise, within the obligation)": gas, "surrender CCER (…)": gas}.

    Raises:
        ContractRevert: a step was refused (a bug).
    """
    reg, ent, year = acct["regulator"], acct["seller"], SURRENDER_YEAR
    org = org_id(ORGS["seller"][0])
    c = lambda name: BINDINGS[name](client, addrs[name])  # noqa: E731
    alloc, comp, em = c("Allocation").functions, c("Compliance").functions, dep.emissions.functions
    coal, zero, evidence = b"COAL".ljust(32, b"\0"), bytes(32), keccak256(b"surrender benchmark evidence")
    r = client.send([Call.of(dep.factors.functions.publishFactorSet(
        year, year, [fuel_co2_code(coal)], [COAL_CO2_FACTOR], [6],
        "0.03085 tC/GJ (MEE notice 8 Jun 2022) x 99% x 44/12 (benchmark)", "coal, surrender benchmark"), reg)])[0]
    factor_set = int(dep.factors.decode_events(r, "FactorSetPublished")[0].factorSetId)
    r = client.send([Call.of(alloc.publishBenchmarkSet(
        year, year, BENCHMARKS_2019_2020.pre_allocation_bps, [b.as_input() for b in BENCHMARKS_2019_2020.benchmarks],
        BENCHMARKS_2019_2020.citation), reg)])[0]
    set_id = int(c("Allocation").decode_events(r, "BenchmarkSetPublished")[0].setId)
    client.send([Call.of(alloc.enrol(org, category_id("COAL_GT300"), ent), reg),
                 Call.of(em.assignFactorSet(org, year, factor_set), reg),
                 Call.of(em.enrolSources(org, year, [ELECTRICITY_SUPPLIED, FUEL_COMBUSTION], [zero, coal]), reg)])
    client.send([Call.of(alloc.preAllocate(year, set_id, org, 10**12, 0, evidence), reg)])
    res = client.send([Call.of(em.recordDeclared(ELECTRICITY_SUPPLIED, zero, year, 0, 10**12, 0, evidence, 0), ent),
                       Call.of(em.recordDeclared(FUEL_COMBUSTION, coal, year, 0, 10**10, factor_set, evidence, 0), ent)])
    records = [int(dep.emissions.decode_events(x, "ActivityRecorded")[0].recordId) for x in res]
    client.send([Call.of(em.submit(rid), ent) for rid in records])
    client.send([Call.of(em.assignVerifier(rid, acct["verifier"]), reg) for rid in records])
    client.send([Call.of(em.attest(rid, keccak256(b"verification report"), zero), acct["verifier"]) for rid in records])
    client.send([Call.of(em.confirm(rid), reg) for rid in records])
    client.send([Call.of(alloc.finalAllocate(year, org), reg)])
    now = int(client.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    preset = PERIOD_PRESETS[year]
    params = dict(preset.params, deadline=now + 30 * 86_400, projectRegisteredTo=0)
    client.send([Call.of(comp.openPeriod(year, tuple(params[k] for k in PERIOD_FIELDS), preset.citations_tuple()), reg)])
    ccer = ccer_id(ccer_vintage, project)
    client.send([Call.of(assets.functions.safeTransferFrom(acct["owner"], ent, ccer, 10, b""), acct["owner"])])
    cea_gas = client.send([Call.of(comp.surrender(year, cea_id(year), 10), ent, "surrender CEA")])[0].gas_used
    ccer_gas = client.send([Call.of(comp.surrender(year, ccer, 10), ent, "surrender CCER")])[0].gas_used
    return {"surrender CEA (enterprise, within the obligation)": cea_gas,
            "surrender CCER (enterprise, within the 5 % cap)": ccer_gas}
