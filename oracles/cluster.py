"""An oracle network of independent node processes (issue 5): keys, admission, the on-chain
oracle set and its fault tolerance f (OCR2 quorum ⌊(n + f)/2⌋ + 1), and one :mod:`scripts.oracle_node` process per node (own store, own HTTP port,
optional MQTT subscription). ``carbonledger oracles`` (scripts/oracles_up.py) is its command line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_utils import to_checksum_address

from ledger.chain.anvil import set_balances
from ledger.chain.client import Call, ChainClient
from ledger.contracts.deployment import Deployment
from ledger.contracts.governance import Operation, govern, is_governed
from ledger.crypto.primitives import Signer, keccak256, new_private_key
from ledger.identifiers import make_uscc, org_id, uscc_bytes32
from ledger.store.db import make_engine, sqlite_url
from oracles.network import DEFAULT_TAKEOVER_S, Cluster, Member
from oracles.system import COUNCIL, PARTICIPANTS, PROJECT_ROOT, open_keystore


class NoDeployment(FileNotFoundError):
    """The data directory holds no deployment manifest."""


def oracle_participant(i: int) -> dict[str, Any]:
    """Participant record of oracle operator ``oracle-i``: the demo's three (:mod:`oracles.system`),
    then fictional operators with valid, distinct USCCs (one organisation per oracle)."""
    name = f"oracle-{i}"
    if name in PARTICIPANTS:
        return PARTICIPANTS[name]
    return {"role": "ORACLE_ROLE", "name": f"Demo oracle operator {i} (fictional)",
            "uscc": make_uscc("9", "1", "310115", f"MB{i % 100:02d}RC{i // 100:02d}"), "utc_offset": 8 * 3600}


def ensure_oracle_keys(data_dir: Path, names: list[str]) -> dict[str, bytes]:
    """Keys of ``names`` from the data directory's keystore, created where missing."""
    ks = open_keystore(data_dir)
    have = ks.labels()
    for n in names:
        if n not in have:
            ks.add(n, new_private_key())
    return {n: ks.unlock(n) for n in names}


def configure_oracles(client: ChainClient, dep: Any, regulator: str, keys: dict[str, bytes], f: int) -> list[str]:
    """Admit every oracle of ``keys`` (``oracle-i`` → its own organisation) if needed, fund it on a
    dev chain, and set the on-chain oracle set to them (in name order i) tolerating ``f`` faulty
    oracles (OCR2: quorum ⌊(n + f)/2⌋ + 1) unless it is already so. Returns their addresses in set order.

    Raises:
        ContractRevert: e.g. ``InvalidFaultTolerance`` (need f ≥ 1 and n ≥ 3f + 1), ``NotRegulator``.
    """
    names = sorted(keys, key=lambda n: int(n.rsplit("-", 1)[1]))
    accts = [client.add_account(keys[n]) for n in names]
    try:
        set_balances(client, accts)
    except Exception:  # noqa: BLE001 - not a dev chain: accounts are funded by their operators
        pass
    client.send([_admit_call(dep, regulator, n, a) for n, a in zip(names, accts)
                 if bytes(client.call(dep.participants.functions.orgOf(a))) == bytes(32)])
    set_oracle_set(client, dep, regulator, accts, f)
    return accts


def set_oracle_set(client: ChainClient, dep: Any, regulator: str, accounts: list[str], f: int) -> bool:
    """``MeterDataAnchor.setOracles(accounts, f)`` unless the chain already holds exactly that;
    True if it was changed (the config digest changes: reports signed before are refused).

    A constitutional act (DESIGN.md "Governance"): on a governed deployment the council members
    whose keys ``client`` holds approve it, the governance delay is waited out in real time, and
    ``regulator`` executes it; before the hand-over ``regulator`` (the deployer) sends it.

    Raises:
        GovernanceError: ``client`` holds fewer council keys than the threshold.
        ContractRevert: ``InvalidFaultTolerance`` (need f ≥ 1 and n ≥ 3f + 1), ``NotConstitution``, …
    """
    oset = dep.anchor.oracles()
    if list(oset.oracles_) == [to_checksum_address(a) for a in accounts] and dep.anchor.faultTolerance() == f:
        return False
    fn = dep.anchor.functions.setOracles([to_checksum_address(a) for a in accounts], f)
    if is_governed(dep):
        members = [m for m in dep.council.members() if client.has_account(m)]
        govern(dep, Operation.of([fn], keccak256(fn.data), "set the oracle set"), members, regulator)
    else:
        client.send([Call.of(fn, regulator, "setOracles")])
    return True


#: The module an oracle node process runs (``python -m``): the node app of scripts/oracle_node.py,
#: named, not imported (oracles/ sits below scripts/).
NODE_MODULE = "scripts.oracle_node"

@dataclass
class NodeProcess:
    """One running node process."""

    name: str
    address: str
    port: int
    store: str
    proc: subprocess.Popen[bytes]
    args: list[str]
    log: Path
    module: str = ""    # run with ``python -m``; empty = NODE_MODULE (tests substitute a faulty double)


@dataclass
class ClusterProcesses:
    """The node processes of a cluster (:func:`start_cluster`)."""

    data_dir: Path
    nodes: dict[str, NodeProcess] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.nodes[name].port}"

    def kill(self, name: str) -> None:
        """SIGKILL node ``name`` (fault drills) and reap it."""
        p = self.nodes[name].proc
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait()

    def restart(self, name: str, timeout: float = 90.0) -> None:
        """Start node ``name`` again with its arguments and wait until it answers."""
        n = self.nodes[name]
        n.proc = _spawn(n.module or NODE_MODULE, n.args, n.log)
        _wait_ready(self.url(name), n.proc, timeout, n.log)

    def stop(self) -> None:
        """SIGTERM every node (clean shutdown: uvicorn finishes, MQTT disconnects), then reap."""
        for n in self.nodes.values():
            if n.proc.poll() is None:
                n.proc.send_signal(signal.SIGTERM)
        for n in self.nodes.values():
            try:
                n.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                n.proc.kill()
                n.proc.wait()


def _spawn(module: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as f:
        return subprocess.Popen([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT, stdout=f,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"oracle node process exited ({proc.returncode}); log: {log}\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/v1/oracle/info", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"oracle node at {url} did not start within {timeout} s; log: {log}")


def start_cluster(data_dir: Path, rpc_url: str, keys: dict[str, bytes], ports: dict[str, int],
                  store_urls: dict[str, str] | None = None, mqtt: str | None = None, node_modules: dict[str, str] | None = None,
                  takeover_s: float = DEFAULT_TAKEOVER_S, timeout: float = 120.0, chunk: int | None = None) -> ClusterProcesses:
    """Write ``cluster.json`` and start one node process per key (:data:`NODE_MODULE`: own
    store, own port, optional MQTT ``host:port``); ``node_modules`` maps a name to another module
    to run instead (tests: a faulty double, tests/oracle_doubles.py). Returns once all answer."""
    names = sorted(keys, key=lambda n: int(n.rsplit("-", 1)[1]))
    Cluster([Member(n, Signer(keys[n]).address, f"http://127.0.0.1:{ports[n]}") for n in names], takeover_s).save(
        data_dir / "oracles" / "cluster.json")
    out = ClusterProcesses(data_dir)
    for n in names:
        args = ["--name", n, "--data-dir", str(data_dir), "--rpc-url", rpc_url, "--port", str(ports[n])]
        store = (store_urls or {}).get(n)
        if store:
            args += ["--store-url", store]
        if mqtt:
            args += ["--mqtt", mqtt]
        if chunk:
            args += ["--chunk", str(chunk)]
        log = data_dir / "oracles" / f"{n}.log"
        module = (node_modules or {}).get(n, NODE_MODULE)
        out.nodes[n] = NodeProcess(n, Signer(keys[n]).address, ports[n], store or str(data_dir / "oracles" / f"{n}.sqlite"),
                                   _spawn(module, args, log), args, log, module)
    try:
        for n in names:
            _wait_ready(out.url(n), out.nodes[n].proc, timeout, out.nodes[n].log)
    except Exception:
        out.stop()
        raise
    return out


def configure_admission(client: ChainClient, dep: Any, regulator: str, name: str, account: str) -> None:
    """Admit ``name`` (oracle-i) as its own oracle-operator organisation (funded first on a dev chain)."""
    try:
        set_balances(client, [account])
    except Exception:  # noqa: BLE001 - not a dev chain
        pass
    client.send([_admit_call(dep, regulator, name, account)])


def _admit_call(dep: Any, regulator: str, name: str, account: str) -> Call:
    p = oracle_participant(int(name.rsplit("-", 1)[1]))
    return Call.of(dep.participants.functions.admit(org_id(p["uscc"]), dep.role(p["role"]), uscc_bytes32(p["uscc"]),
                                                    p["utc_offset"], account, p["name"]), regulator, f"admit {name}")


def open_as_regulator(data_dir: Path, rpc_url: str) -> tuple[ChainClient, Deployment, str]:
    """Chain client (regulator and council keys loaded), deployment and regulator address of a data directory.

    Raises:
        NoDeployment: the directory holds no ``deployment.json``.
        KeystoreError: no regulator key there, or a wrong passphrase.
    """
    manifest = data_dir / "deployment.json"
    if not manifest.exists():
        raise NoDeployment(f"{data_dir} holds no deployment; run `carbonledger deploy` first")
    client = ChainClient(rpc_url, make_engine(sqlite_url(data_dir / "oracles" / "regulator-journal.sqlite")))
    dep = Deployment.load(client, manifest)
    ks = open_keystore(data_dir)
    regulator = client.add_account(ks.unlock("regulator"))
    for name in COUNCIL[1:]:           # the other council members' keys: constitutional acts need k of them
        if name in ks.labels():
            client.add_account(ks.unlock(name))
    return client, dep, regulator
