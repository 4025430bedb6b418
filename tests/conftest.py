"""Shared fixtures: a real Anvil node for the session, the compiled contracts, a deployed
world with its participants, and per-test isolation by ``evm_snapshot``/``evm_revert``."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hypothesis import HealthCheck, settings

from ledger.chain.anvil import AnvilNode, anvil_binary, free_port, set_balances  # noqa: F401 - tests import free_port from here
from ledger.chain.client import Call, ChainClient
from ledger.contracts.compiler import Artifact, compile_contracts
from ledger.contracts.deploy import deploy_all
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import device_id, make_uscc, org_id, uscc_bytes32
from ledger.store.db import make_engine, sqlite_url
from tests.pg import fresh_pg_url, pg_url  # noqa: F401 - PostgreSQL fixtures (scripts/postgres.sh)

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

#: Under CI (``.ci/run`` exports ``CI=true``) nothing may skip: a missing tool or data file fails.
IN_CI = os.environ.get("CI") == "true"

# Hypothesis: no per-example deadline anywhere (a busy 2-core machine makes any wall-clock bound
# flaky), and the seed is printed with every failure (``print_blob``: the failing example can be
# replayed with ``@reproduce_failure``). Under CI the search is derandomized: the same examples on
# every run, so a red CI run is reproducible bit for bit.
settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile("ci", deadline=None, print_blob=True, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if IN_CI else "dev"))


def unavailable(reason: str) -> NoReturn:
    """A tool or data set a test needs is missing: fail under CI (``CI=true`` — CI must really run
    the test), skip with the reason elsewhere. Never returns."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test must run, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under ``CI=true`` a skipped test is a failed test, whatever skipped it."""
    rep = yield
    if IN_CI and rep.skipped and not hasattr(rep, "wasxfail"):
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI=true (CI must run every test): {rep.longrepr}"
    return rep


def shared_data(rel: str) -> Path:
    """Path of a file in ../shared/data (CI places ../shared beside the clone), or in the directory
    named by ``CARBONLEDGER_SHARED_DATA`` (e.g. from a git worktree elsewhere); else the test skips
    with a clear message (fails under ``CI=true``: :func:`unavailable`)."""
    env = os.environ.get("CARBONLEDGER_SHARED_DATA")
    for base in ([Path(env)] if env else []) + [SHARED / "data"]:
        if (base / rel).exists():
            return base / rel
    unavailable(f"../shared/data/{rel} is absent (CI places ../shared beside the clone; "
                "CARBONLEDGER_SHARED_DATA may name the data directory)")


@pytest.fixture(scope="session")
def artifacts() -> dict[str, Artifact]:
    return compile_contracts(ROOT, ROOT / ".carbonledger" / "build")


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    node = AnvilNode(anvil_binary(ROOT), tmp_path_factory.mktemp("anvil"), port=free_port())
    node.start()
    yield node
    node.stop(snapshot=False)


USCC = {
    "regulator": make_uscc("1", "1", "110000", "MB1C0001"),
    "enterprise": make_uscc("9", "1", "110108", "MA01CL7K"),
    "enterprise2": make_uscc("9", "1", "320500", "MA06EN22"),
    "verifier": make_uscc("9", "1", "110105", "MA02WF3R"),
    "verifier2": make_uscc("9", "1", "110106", "MA07WF44"),
    "oracle-1": make_uscc("9", "1", "310115", "MA03RC11"),
    "oracle-2": make_uscc("9", "1", "440305", "MA04RC22"),
    "oracle-3": make_uscc("9", "1", "510107", "MA05RC33"),
    "oracle-4": make_uscc("9", "1", "330106", "MA13RC44"),
    "calibration": make_uscc("1", "2", "110105", "MB3CB001"),
    "exchange": make_uscc("9", "1", "310101", "MA12EX01"),
    "registry": make_uscc("1", "2", "110102", "MB2RG001"),
    "bank": make_uscc("9", "1", "110102", "MA09BK01"),
    "owner": make_uscc("9", "1", "440106", "MA10PW01"),
}
ROLES = {"regulator": "REGULATOR_ROLE", "enterprise": "ENTERPRISE_ROLE", "enterprise2": "ENTERPRISE_ROLE",
         "verifier": "VERIFIER_ROLE", "verifier2": "VERIFIER_ROLE", "oracle-1": "ORACLE_ROLE",
         "oracle-2": "ORACLE_ROLE", "oracle-3": "ORACLE_ROLE", "oracle-4": "ORACLE_ROLE",
         "calibration": "CALIBRATION_BODY_ROLE", "exchange": "EXCHANGE_ROLE", "registry": "REGISTRY_ROLE",
         "bank": "SETTLEMENT_BANK_ROLE", "owner": "PROJECT_OWNER_ROLE"}
GRID_EF_SCALED = 5703
CAL_FROM = 1_136_073_600  # 2006-01-01Z: the world's meter calibrated from then (by the calibration body)
CAL_UNTIL = 1_293_840_000  # 2011-01-01Z
#: OCR2 fault tolerance of the world's oracle set: n = 4 ≥ 3f + 1, quorum ⌊(4 + 1)/2⌋ + 1 = 3.
ORACLE_F = 1


@dataclass
class World:
    """A deployed system with admitted participants, 4 oracles with f = 1 (quorum 3), a calibration
    body, one calibrated meter, one factor set."""

    client: ChainClient
    dep: Deployment
    keys: dict[str, bytes]
    acct: dict[str, str]
    device: bytes
    device_key: bytes
    factor_set: int

    def call(self, fn: Any, sender: str | None = None) -> Any:
        return self.client.call(fn, sender)

    def tx(self, fn: Any, who: str) -> Any:
        return self.client.send([Call.of(fn, self.acct[who])])[0]

    def oracle_signer(self, i: int) -> Signer:
        return Signer(self.keys[f"oracle-{i}"])


@pytest.fixture(scope="session")
def world(anvil: AnvilNode, artifacts: dict[str, Artifact], tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(anvil.url, artifacts, tmp_path_factory.mktemp("journal") / "journal.sqlite")


def make_world(rpc_url: str | list[str], artifacts: dict[str, Artifact], journal: Path, *, funder_key: bytes | None = None,
               final_after: int | None = None, admin_ipc: list[str] | None = None) -> World:
    """Deploy the system on the node at ``rpc_url`` and admit the participants of :data:`USCC`
    (journal: SQLite file of the chain client). Used by ``world``, and by tests that need a node
    of their own (e.g. ``anvil_reorg`` drops the node's ``evm_snapshot``s). On a network
    (tests/test_network_faults.py) ``funder_key`` (a genesis-funded account) pays the gas money
    instead of ``anvil_setBalance``; ``final_after`` and ``admin_ipc`` go to the client."""
    client = ChainClient(rpc_url, make_engine(sqlite_url(journal)), error_abis=[a.abi for a in artifacts.values()],
                         final_after=final_after, admin_ipc=admin_ipc)
    names = [*USCC, "outsider", "device"]
    keys = {n: new_private_key() for n in names}
    acct = {n: client.add_account(k) for n, k in keys.items()}
    if funder_key is None:
        set_balances(client, acct.values())
    else:
        funder = client.add_account(funder_key)
        client.send([Call(funder, a, b"", f"fund {n}", value=10**20) for n, a in acct.items()])
    manifest = deploy_all(client, artifacts, acct["regulator"], org_id(USCC["regulator"]), uscc_bytes32(USCC["regulator"]))
    dep = Deployment(client, manifest)
    pr = dep.participants.functions
    calls = [Call.of(pr.admit(org_id(USCC[n]), dep.role(ROLES[n]), uscc_bytes32(USCC[n]), 3600 if n.startswith("enterprise") else 28800,
                              acct[n], f"test {n}"), acct["regulator"]) for n in USCC if n != "regulator"]
    client.send(calls)
    client.send([Call.of(dep.anchor.functions.setOracles([acct[f"oracle-{i}"] for i in range(1, 5)], ORACLE_F), acct["regulator"])])
    device = device_id(USCC["enterprise"], "meter-1")
    client.send([Call.of(dep.devices.functions.registerDevice(device, org_id(USCC["enterprise"]), Signer(keys["device"]).address, 1,
                                                                keccak256(b"serial meter-1")),
                         acct["enterprise"])])
    client.send([Call.of(dep.devices.functions.recordCalibration(device, CAL_FROM, CAL_UNTIL, keccak256(b"calibration")),
                         acct["calibration"])])
    grid = bytes(client.call(dep.factors.functions.GRID_EF()))
    client.send([Call.of(dep.factors.functions.publishFactorSet(2006, 2010, [grid], [GRID_EF_SCALED], [4], "环办气候函〔2023〕43号", "test"), acct["regulator"])])
    # the regulator assigns that set to both enterprises' 2007 (issue 12: not the record's choice)
    client.send([Call.of(dep.emissions.functions.assignFactorSet(org_id(USCC[n]), 2007, 1), acct["regulator"])
                 for n in ("enterprise", "enterprise2")])
    return World(client, dep, keys, acct, device, keys["device"], 1)


@pytest.fixture()
def chain(world: World) -> Iterator[World]:
    """The world, reverted to its state before the test afterwards."""
    snap = world.client.rpc("evm_snapshot")
    yield world
    world.client.rpc("evm_revert", snap)
    world.client.rewind()
