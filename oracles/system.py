"""The demo's running system of one data directory: embedded chain, chain client, deployment, keys,
participants and the three oracle nodes of the demo enterprise (used by ``carbonledger demo``,
``deploy``, ``api serve`` and the oracle network commands in scripts/).

The regulator is a 2-of-3 council (DESIGN.md "Governance"): on a new deployment the deployer's
bootstrap constitution admits the participants and sets the oracle set, then is handed to the
council, which publishes the factor set through its timelock, the delay waited out in real time.

Everything here is idempotent: a second run finds the snapshot, the journal, the manifest,
the keys and the on-chain registrations and reuses them (re-sending journalled transactions
a restarted node lacks).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.accounting.emissions import ef_to_scaled
from ledger.chain.anvil import DEFAULT_CHAIN_ID, AnvilNode, anvil_binary, set_balances
from ledger.chain.client import Call, ChainClient, ChainError
from ledger.contracts.binding import FunctionCall
from ledger.contracts.compiler import REPO_ROOT, Artifact, compile_contracts
from ledger.contracts.deploy import deploy_all, extend_manifest
from ledger.contracts.deployment import Deployment, save_manifest
from ledger.contracts.governance import Operation, establish_governance, govern, is_governed
from ledger.crypto import envelope as ev
from ledger.crypto.keystore import Keystore, derive_encryption_key, passphrase_from_environment
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import device_id, make_uscc, meter_serial_hash, org_id, uscc_bytes32
from ledger.meter_data.reading import quorum_of
from ledger.network import Network, geth_binary
from ledger.store.db import make_engine, sqlite_url
from oracles.node import OracleNode
from oracles.runtime import make_oracle_node

PROJECT_ROOT = REPO_ROOT
#: Working directory from which `python -m scripts.cli` runs.
ROOT_FOR_CLI = PROJECT_ROOT

#: The demo's participants. All organisations are fictional; their USCCs are syntactically valid
#: (GB 32100-2015 check characters computed) but belong to no one.
CST = 8 * 3600
"""UTC offset of the demo organisations (China Standard Time, +08:00)."""


def _org(role: str, name: str, uscc: tuple[str, str, str, str], utc_offset: int = CST) -> dict[str, Any]:
    return {"role": role, "name": name, "uscc": make_uscc(*uscc), "utc_offset": utc_offset}


PARTICIPANTS: dict[str, dict[str, Any]] = {
    "regulator": _org("REGULATOR_ROLE", "Demo provincial ecology and environment department (fictional)",
                      ("1", "1", "110000", "MB1C0001")),
    # The enterprise's meter is the UCI household meter, whose clock is a fixed +01:00 (DESIGN.md §5).
    "enterprise": _org("ENTERPRISE_ROLE", "Demo key emitting enterprise (fictional; meter data: UCI household)",
                       ("9", "1", "110108", "MA01CL7K"), 3600),
    "verifier": _org("VERIFIER_ROLE", "Demo third-party verifier (fictional)", ("9", "1", "110105", "MA02WF3R")),
    **{f"oracle-{i}": _org("ORACLE_ROLE", f"Demo oracle operator {i} (fictional)", ("9", "1", division, body))
       for i, division, body in ((1, "310115", "MA03RC11"), (2, "440305", "MA04RC22"), (3, "510107", "MA05RC33"),
                                 (4, "330106", "MA13RC44"))},
    # 计量检定机构: records the meter's calibration (计量法 Art. 9), not the enterprise (issue 12)
    "calibration": _org("CALIBRATION_BODY_ROLE", "Demo accredited calibration body (fictional)", ("1", "2", "110105", "MB3CB001")),
    "exchange": _org("EXCHANGE_ROLE", "Demo carbon exchange (fictional)", ("9", "1", "310101", "MA08EX01")),
    "registry": _org("REGISTRY_ROLE", "Demo CCER registry (fictional)", ("1", "2", "110102", "MB2RG001")),
    "bank": _org("SETTLEMENT_BANK_ROLE", "Demo settlement bank (fictional)", ("9", "1", "110102", "MA09BK01")),
}
ORACLES = ("oracle-1", "oracle-2", "oracle-3", "oracle-4")
#: OCR2 fault tolerance of the demo's oracle set: n = 4 ≥ 3f + 1 (issue 12).
ORACLE_F = 1
#: Signatures a report needs: ⌊(n + f)/2⌋ + 1 = 3 of 4 (MeterDataAnchor.setOracles).
QUORUM = quorum_of(len(ORACLES), ORACLE_F)
#: The regulator council (DESIGN.md "Governance"): the regulator's three accounts, 2 of which approve
#: every constitutional act (issue 12: "The demo's regulator becomes a 2-of-3").
COUNCIL = ("regulator", "regulator-b", "regulator-c")
COUNCIL_THRESHOLD = 2
#: Governance delay of the demo, seconds: waited out in real time (issue 12: "the demo uses <= 30 s").
GOVERNANCE_DELAY_S = 10
METER_SERIAL = "UCI-HPC-SCEAUX-1"
#: Calibration validity the demo's calibration body records for the meter: covers the whole UCI
#: period (2006-12-16 .. 2010-11-26). Evidence: hash of the statement below (no certificate exists
#: for this public dataset's meter — the statement says so).
METER_CALIBRATED_FROM = 1_164_931_200  # 2006-12-01T00:00:00Z
METER_CALIBRATED_UNTIL = 1_293_840_000  # 2011-01-01T00:00:00Z
METER_CALIBRATION_STATEMENT = b"UCI household power meter: public dataset, no calibration certificate; validity recorded for the demo"

#: The demo's factor set: the 2022 national grid average emission factor for enterprise reporting,
#: 0.5703 tCO2/MWh (环办气候函〔2023〕43号; CONFIRMED-S in ../shared/data/china_rules.md),
#: registered for the demo's reporting years and labelled as applied to historical data.
GRID_FACTOR = "0.5703"
GRID_FACTOR_CITATION = ("环办气候函〔2023〕43号《关于做好2023—2025年发电行业企业温室气体排放报告管理有关工作的通知》"
                        " (MEE, 2023-02-07): 2022年度全国电网平均排放因子 0.5703 tCO2/MWh")
GRID_FACTOR_LABEL = "2022 national grid average applied to historical demo data (UCI 2006-2010)"
GRID_FACTOR_YEARS = (2006, 2010)
#: Gas money a network's funded key gives each empty demo account (100 ether; a demo month costs
#: well under 1 ether of gas at the network's base fee).
NETWORK_FUNDING_WEI = 100 * 10**18
#: scrypt cost of the demo keystore (2^16 ≈ 0.12 s per key here; production default 2^17).
DEMO_SCRYPT_N = 2**16


def open_keystore(data_dir: Path, scrypt_n: int = DEMO_SCRYPT_N) -> Keystore:
    """The data directory's keystore (``data_dir/keystore``); passphrase from the environment or
    ``data_dir/keystore.passphrase`` (mode 0600, created on first start)."""
    return Keystore(data_dir / "keystore", passphrase_from_environment(data_dir / "keystore.passphrase"), scrypt_n)


def _load_keys(data_dir: Path) -> dict[str, bytes]:
    """Unlock the demo participants' keys, creating (or importing a legacy keys.json) on first start."""
    ks = open_keystore(data_dir)
    have = ks.labels()
    legacy = data_dir / "keys.json"
    old = json.loads(legacy.read_text()) if legacy.exists() else {}
    for name in [*PARTICIPANTS, *COUNCIL[1:], "device"]:
        if name not in have:
            ks.add(name, bytes.fromhex(old[name][2:]) if name in old else new_private_key())
    if legacy.exists():
        legacy.unlink()   # now encrypted in the keystore
    return ks.unlock_all()


@dataclass
class System:
    """One data directory's running system (see module docstring)."""

    data_dir: Path
    #: None: the embedded chain; else one JSON-RPC URL, or several of one network (fail-over in
    #: that order; the oracle nodes start at different ones, :meth:`oracle_urls`).
    rpc_url: str | list[str] | None = None
    port: int = 8545
    chain_id: int = DEFAULT_CHAIN_ID
    log: Any = print
    #: IPC sockets of the network's nodes (``clique_getSigners`` for K and the report, from the
    #: first that answers; geth serves the clique API over IPC only).
    admin_ipc: list[str] | None = None
    #: K (None: the engine's default, ledger.chain.finality).
    final_after: int | None = None
    #: A funded key of the network (genesis allocation) that pays the participants' gas money
    #: (:data:`NETWORK_FUNDING_WEI` each, only to empty accounts); None on the embedded chain.
    funder_key: bytes | None = None
    node: AnvilNode | None = field(default=None, init=False)
    client: ChainClient = field(init=False)
    dep: Deployment = field(init=False)
    keys: dict[str, bytes] = field(init=False)
    accounts: dict[str, str] = field(init=False)
    oracle_nodes: list[OracleNode] = field(init=False)
    timings: dict[str, float] = field(default_factory=dict)
    resent: int = 0
    #: The geth Clique network this system started (:meth:`on_network`); :meth:`stop` stops it.
    network: Network | None = None

    @classmethod
    def on_network(cls, data_dir: Path, nodes: int, *, period: int = 1, final_after: int | None = None,
                   log: Any = print) -> System:
        """The system of ``data_dir`` on an ``nodes``-node geth Clique network in ``data_dir/geth``,
        started (or reused: a restart resumes from the data directories) through
        :class:`ledger.network.Network`. The client knows every node's RPC URL (node 1 first;
        oracle node ``i`` reads through node ``i + 1`` first), reads the signers over IPC, and
        the regulator organisation's genesis-funded account pays the participants' gas money.
        Call :meth:`start` next.

        Raises:
            GethUnavailable: geth v1.13.15 is not installed and cannot be built.
            NetworkError, NodeError: the network did not come up.
        """
        net = Network.up(data_dir / "geth", geth_binary(PROJECT_ROOT), nodes=nodes, period=period)
        return cls(data_dir, rpc_url=net.rpc_urls, admin_ipc=[str(p) for p in net.ipc_paths], final_after=final_after,
                   funder_key=net.account_keys()["regulator"], log=log, network=net)

    # ------------------------------------------------------------------ start
    def start(self) -> System:
        """Start (or reach) the chain, recover the journal, compile, deploy or load, register.
        If any step fails, the embedded node this started is stopped (state snapshotted) first."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> System:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        if self.rpc_url is None:
            self.node = AnvilNode(anvil_binary(PROJECT_ROOT), self.data_dir / "chain", port=self.port, chain_id=self.chain_id)
            self.node.start()
            url = self.node.url
        else:
            url = self.rpc_url
        urls = [url] if isinstance(url, str) else list(url)
        self.timings["node_start"] = time.perf_counter() - t
        t = time.perf_counter()
        artifacts = compile_contracts(PROJECT_ROOT, self.data_dir / "build")
        self.timings["compile"] = time.perf_counter() - t
        self.client = ChainClient(urls, make_engine(sqlite_url(self.data_dir / "journal.sqlite")),
                                  error_abis=[a.abi for a in artifacts.values()], final_after=self.final_after,
                                  admin_ipc=self.admin_ipc)
        self.keys = _load_keys(self.data_dir)
        self.accounts = {name: self.client.add_account(k) for name, k in self.keys.items()}
        self._fund()
        self.resent = self.client.recover()
        if self.resent:
            self.log(f"re-sent {self.resent} journalled transactions the node did not know")
        manifest_path = self.data_dir / "deployment.json"
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
            if extend_manifest(self.client, artifacts, manifest):   # a data dir from before the market contracts
                save_manifest(manifest, manifest_path)
                self.log("deployed the carbon-asset and market contracts into the existing deployment")
            self.dep = Deployment.load(self.client, manifest_path)
        else:
            reg = PARTICIPANTS["regulator"]
            manifest = deploy_all(self.client, artifacts, self.accounts["regulator"], org_id(reg["uscc"]),
                                  uscc_bytes32(reg["uscc"]), rpc_url=urls[0])
            save_manifest(manifest, manifest_path)
            self.dep = Deployment(self.client, manifest)
        self.register()
        if not is_governed(self.dep):
            self.hand_over(artifacts, manifest_path)
        self.publish_factor_set()
        self.oracle_nodes = [self._oracle_node(i) for i in range(len(ORACLES))]
        return self

    def _fund(self) -> None:
        """Gas money. The embedded chain: ``anvil_setBalance`` for every account. A network with a
        :attr:`funder_key`: a value transfer to each empty account. Another external node: where it
        is an Anvil dev chain, ``anvil_setBalance`` for the empty accounts (elsewhere the operators
        fund accounts, or gas is free: the refusal is logged)."""
        if self.node is not None:
            set_balances(self.client, self.accounts.values())
            return
        empty = [a for a, r in zip(self.accounts.values(), self.client.rpc_batch(
            [("eth_getBalance", [a, "latest"]) for a in self.accounts.values()])) if int(r.get("result", "0x0"), 16) == 0]
        if not empty:
            return
        if self.funder_key is not None:
            funder = self.client.add_account(self.funder_key)
            self.client.send([Call(funder, a, b"", f"fund {a}", value=NETWORK_FUNDING_WEI) for a in empty])
            return
        try:
            set_balances(self.client, empty)
        except ChainError as exc:
            self.log(f"accounts not funded ({exc}); the network's operators fund them, or gas is free")

    def oracle_urls(self, i: int) -> list[str]:
        """The RPC URLs oracle node ``i`` uses: every URL of the system, starting at the ``i``-th
        (so that on a network each oracle node reads through a different node first)."""
        urls = self.client.rpc_urls
        j = i % len(urls)
        return urls[j:] + urls[:j]

    def _oracle_node(self, i: int) -> OracleNode:
        name = ORACLES[i]
        dep = self.dep
        urls = self.oracle_urls(i)
        if urls != self.client.rpc_urls:
            client = ChainClient(urls, make_engine(sqlite_url(self.data_dir / "oracles" / f"{name}-journal.sqlite")),
                                 final_after=self.final_after, admin_ipc=self.admin_ipc)
            dep = Deployment(client, self.dep.manifest)
        return make_oracle_node(dep, self.data_dir, name, self.keys[name])

    def stop(self) -> None:
        """Snapshot and stop the embedded node, or stop the network's nodes (SIGTERM; their data
        directories stay), if this system started them."""
        if self.node is not None:
            self.node.stop()
        if self.network is not None:
            self.network.stop()

    # ------------------------------------------------------------------ registry
    @property
    def device(self) -> bytes:
        """Device id of the demo enterprise's purchased-electricity meter."""
        return device_id(PARTICIPANTS["enterprise"]["uscc"], METER_SERIAL)

    @property
    def device_key(self) -> bytes:
        return self.keys["device"]

    def register(self) -> None:
        """Admit participants, set the oracle quorum, register the meter, publish the factor set.

        Each step is skipped when the chain already holds it.
        """
        d, c, a = self.dep, self.client, self.accounts
        pr = d.participants.functions
        calls, constitutional = [], []
        for name, p in PARTICIPANTS.items():
            if name == "regulator":
                continue
            if bytes(c.call(pr.orgOf(a[name]))) == bytes(32):
                fn = pr.admit(org_id(p["uscc"]), d.role(p["role"]), uscc_bytes32(p["uscc"]), p["utc_offset"], a[name], p["name"])
                if d.participants.isConstitutionalRole(d.role(p["role"])):
                    constitutional.append(fn)
                else:
                    calls.append(Call.of(fn, a["regulator"], f"admit {name}"))
        c.send(calls)
        if constitutional:
            self.constitutional(constitutional, "admit the exchange, registry and settlement bank")
        # X25519 evidence keys (derived from each account's signing key, ledger/keystore.py), so
        # encrypted evidence can be sealed for every reader from the first upload on
        c.send([Call.of(pr.setEncryptionKey(ev.public_key(derive_encryption_key(self.keys[name]))), a[name], f"encryption key {name}")
                for name in PARTICIPANTS if bytes(c.call(pr.encryptionKeyOf(a[name]))) == bytes(32)])
        oset = d.anchor.oracles()
        want = [a[o] for o in ORACLES]
        if list(oset.oracles_) != want or d.anchor.faultTolerance() != ORACLE_F:
            self.constitutional([d.anchor.functions.setOracles(want, ORACLE_F)], "set the oracle set")
        if d.devices.device(self.device).status == 0:  # Status.None: not registered
            signer = Signer(self.device_key).address
            c.transact(d.devices.functions.registerDevice(
                self.device, org_id(PARTICIPANTS["enterprise"]["uscc"]), signer, 1, meter_serial_hash(METER_SERIAL)), a["enterprise"], "registerDevice")
        if not d.devices.calibrations(self.device):
            c.transact(d.devices.functions.recordCalibration(
                self.device, METER_CALIBRATED_FROM, METER_CALIBRATED_UNTIL, keccak256(METER_CALIBRATION_STATEMENT)),
                a["calibration"], "recordCalibration")

    def publish_factor_set(self) -> None:
        """Publish the demo's factor set unless the chain holds it: a constitutional act, so on a
        governed deployment 2 of the 3 regulator accounts approve it and the delay is waited out."""
        d, c = self.dep, self.client
        if self.factor_set_id() == 0:
            self.constitutional([d.factors.functions.publishFactorSet(
                GRID_FACTOR_YEARS[0], GRID_FACTOR_YEARS[1], [bytes(c.call(d.factors.functions.GRID_EF()))],
                [ef_to_scaled(GRID_FACTOR)], [4], GRID_FACTOR_CITATION, GRID_FACTOR_LABEL)], "publish the demo factor set")

    def hand_over(self, artifacts: dict[str, Artifact], manifest_path: Path) -> None:
        """End the bootstrap: the 2-of-3 council of :data:`COUNCIL` behind a Constitution timelock of
        :data:`GOVERNANCE_DELAY_S` holds the constitution from now on (DESIGN.md "Governance")."""
        manifest = establish_governance(self.client, artifacts, dict(self.dep.manifest, contracts=dict(self.dep.manifest["contracts"])),
                                        self.accounts["regulator"], [self.accounts[m] for m in COUNCIL], COUNCIL_THRESHOLD,
                                        GOVERNANCE_DELAY_S)
        save_manifest(manifest, manifest_path)
        self.dep = Deployment(self.client, manifest)
        self.log(f"constitution handed to the regulator council ({COUNCIL_THRESHOLD} of {len(COUNCIL)}, "
                 f"delay {GOVERNANCE_DELAY_S} s)")

    def constitutional(self, fns: list[FunctionCall[Any]], label: str) -> None:
        """A constitutional act: sent by the regulator while the deployment bootstraps; on a governed
        deployment approved by :data:`COUNCIL_THRESHOLD` council members, the governance delay waited
        out in real time, then executed (resuming an act a crash interrupted)."""
        if not is_governed(self.dep):
            self.client.send([Call.of(f, self.accounts["regulator"], label) for f in fns])
            return
        t = time.perf_counter()
        govern(self.dep, Operation.of(fns, keccak256(label.encode()), label), [self.accounts[m] for m in COUNCIL],
               self.accounts["regulator"])
        self.timings["governance"] = self.timings.get("governance", 0.0) + time.perf_counter() - t
        self.log(f"{label}: approved by {COUNCIL_THRESHOLD} of {len(COUNCIL)} regulator accounts, executed after the "
                 f"{self.dep.constitution.getMinDelay()} s governance delay")

    def factor_set_id(self) -> int:
        """Id of the demo's published factor set (0 if not yet published)."""
        return int(self.client.call(self.dep.factors.functions.factorSetCount()))
