"""``carbonledger oracles``: a local oracle network as independent processes (issue 5).

    carbonledger oracles up --nodes 4 --quorum 3 [--data-dir D] [--rpc-url U] [--mqtt]
    carbonledger oracles set --add oracle-5 | --remove oracle-2 | --quorum 3
    carbonledger oracles status
    carbonledger oracles anchor --device 0x… --start S --end E --period 3600

``up`` needs a deployment in the data directory (``carbonledger deploy``). It gives every node
``oracle-1..N`` its own keystore key, admits each as its own organisation if needed (the
anchor refuses two oracles of one organisation: ``OracleOrganisationRepeated``), sets the
on-chain oracle set and quorum (regulator), writes ``D/oracles/cluster.json``, starts one
process per node (:mod:`oracles.service`: own store, own HTTP port, optional MQTT subscription
to a private mosquitto started by scripts/mosquitto.sh) and runs until Ctrl-C.
The lead mounts :data:`oracles_app` as ``carbonledger oracles``; ``python -m scripts.oracles_up``
runs it standalone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from eth_utils import to_checksum_address
from rich.console import Console
from rich.table import Table

from ledger.chain.client import Call, ChainClient
from ledger.identifiers import make_uscc, org_id, uscc_bytes32
from oracles.network import DEFAULT_TAKEOVER_S, Cluster, Member

PROJECT_ROOT = Path(__file__).resolve().parent.parent
oracles_app = typer.Typer(help="The oracle network: n node processes with a quorum.", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 150)
DataDir = Annotated[Path, typer.Option("--data-dir", envvar="CARBONLEDGER_HOME", help="State directory of the deployment.")]
RpcUrl = Annotated[str, typer.Option(help="JSON-RPC URL of the chain.")]


def oracle_participant(i: int) -> dict[str, Any]:
    """Participant record of oracle operator ``oracle-i``: the demo's three (scripts/setup_env.py),
    then fictional operators with valid, distinct USCCs (one organisation per oracle)."""
    from scripts.setup_env import PARTICIPANTS
    name = f"oracle-{i}"
    if name in PARTICIPANTS:
        return PARTICIPANTS[name]
    return {"role": "ORACLE_ROLE", "name": f"Demo oracle operator {i} (fictional)",
            "uscc": make_uscc("9", "1", "310115", f"MB{i % 100:02d}RC{i // 100:02d}"), "utc_offset": 8 * 3600}


def ensure_oracle_keys(data_dir: Path, names: list[str]) -> dict[str, bytes]:
    """Keys of ``names`` from the data directory's keystore, created where missing."""
    from ledger.crypto.primitives import new_private_key
    from scripts.setup_env import open_keystore
    ks = open_keystore(data_dir)
    have = ks.labels()
    for n in names:
        if n not in have:
            ks.add(n, new_private_key())
    return {n: ks.unlock(n) for n in names}


def configure_oracles(client: ChainClient, dep: Any, regulator: str, keys: dict[str, bytes], quorum: int) -> list[str]:
    """Admit every oracle of ``keys`` (``oracle-i`` → its own organisation) if needed, fund it on a
    dev chain, and set the on-chain oracle set to them (in name order i) with ``quorum`` unless it
    is already so. Returns their addresses in set order.

    Raises:
        ContractRevert: e.g. ``InvalidQuorum`` (need quorum > n/2 and ≤ n), ``NotRegulator``.
    """
    names = sorted(keys, key=lambda n: int(n.rsplit("-", 1)[1]))
    accts = [client.add_account(keys[n]) for n in names]
    try:
        client.fund_on_dev_chain(accts)
    except Exception:  # noqa: BLE001 - not a dev chain: accounts are funded by their operators
        pass
    pr = dep.participants.functions
    calls = []
    for n, a in zip(names, accts):
        if bytes(client.call(pr.orgOf(a))) == bytes(32):
            p = oracle_participant(int(n.rsplit("-", 1)[1]))
            calls.append(Call.of(pr.admit(org_id(p["uscc"]), dep.role(p["role"]), uscc_bytes32(p["uscc"]), p["utc_offset"], a, p["name"]),
                                 regulator, f"admit {n}"))
    client.send(calls)
    set_oracle_set(client, dep, regulator, accts, quorum)
    return accts


def set_oracle_set(client: ChainClient, dep: Any, regulator: str, accounts: list[str], quorum: int) -> bool:
    """``MeterDataAnchor.setOracles(accounts, quorum)`` unless the chain already holds exactly that;
    True if a transaction was sent (the config digest changes: reports signed before are refused)."""
    oset = dep.anchor.oracles()
    if list(oset.oracles_) == [to_checksum_address(a) for a in accounts] and oset.quorum == quorum:
        return False
    client.send([Call.of(dep.anchor.functions.setOracles([to_checksum_address(a) for a in accounts], quorum), regulator, "setOracles")])
    return True


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
        n.proc = _spawn(n.args, n.log)
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


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as f:
        return subprocess.Popen([sys.executable, "-m", "oracles.service", *args], cwd=PROJECT_ROOT, stdout=f,
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
                  store_urls: dict[str, str] | None = None, mqtt: str | None = None, faults: dict[str, str] | None = None,
                  takeover_s: float = DEFAULT_TAKEOVER_S, timeout: float = 120.0, chunk: int | None = None) -> ClusterProcesses:
    """Write ``cluster.json`` and start one :mod:`oracles.service` process per key (own store,
    own port, optional MQTT ``host:port``, optional fault); returns once all answer."""
    from ledger.crypto.primitives import Signer
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
        if (faults or {}).get(n):
            args += ["--fault", faults[n]]  # type: ignore[index]
        log = data_dir / "oracles" / f"{n}.log"
        out.nodes[n] = NodeProcess(n, Signer(keys[n]).address, ports[n], store or str(data_dir / "oracles" / f"{n}.sqlite"),
                                   _spawn(args, log), args, log)
    try:
        for n in names:
            _wait_ready(out.url(n), out.nodes[n].proc, timeout, out.nodes[n].log)
    except Exception:
        out.stop()
        raise
    return out


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _open(data_dir: Path, rpc_url: str) -> tuple[ChainClient, Any, str]:
    """Chain client (regulator key loaded), deployment and regulator address of a data directory."""
    from ledger.contracts.deployment import Deployment
    from ledger.store.db import make_engine, sqlite_url
    from scripts.setup_env import open_keystore
    manifest = data_dir / "deployment.json"
    if not manifest.exists():
        raise typer.BadParameter(f"{data_dir} holds no deployment; run `carbonledger deploy` first")
    client = ChainClient(rpc_url, make_engine(sqlite_url(data_dir / "oracles" / "regulator-journal.sqlite")))
    dep = Deployment.load(client, manifest)
    regulator = client.add_account(open_keystore(data_dir).unlock("regulator"))
    return client, dep, regulator


@oracles_app.command("up")
def up(nodes: Annotated[int, typer.Option("--nodes", min=1, max=255, help="Number of oracle nodes n.")] = 3,
       quorum: Annotated[int, typer.Option("--quorum", min=1, help="Signatures needed k (k > n/2).")] = 2,
       data_dir: DataDir = Path(".carbonledger"),
       rpc_url: RpcUrl = "http://127.0.0.1:8545",
       base_port: Annotated[int, typer.Option(help="HTTP port of oracle-1 (oracle-i gets base+i−1); 0 = free ports.")] = 8101,
       mqtt: Annotated[bool, typer.Option("--mqtt/--no-mqtt", help="Start a private mosquitto and subscribe every node.")] = False,
       store_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL template of the stores, {name} replaced (default SQLite files).")] = None,
       takeover_s: Annotated[float, typer.Option(help="Seconds per rank before a node takes a round over.")] = DEFAULT_TAKEOVER_S) -> None:
    """Start N oracle node processes with a K-of-N on-chain quorum; run until Ctrl-C."""
    if quorum * 2 <= nodes or quorum > nodes:
        raise typer.BadParameter(f"quorum must satisfy n/2 < k <= n (MeterDataAnchor.setOracles); got k={quorum}, n={nodes}")
    d = data_dir.resolve()
    client, dep, regulator = _open(d, rpc_url)
    names = [f"oracle-{i}" for i in range(1, nodes + 1)]
    keys = ensure_oracle_keys(d, names)
    with console.status("admitting oracles and setting the quorum…"):
        configure_oracles(client, dep, regulator, keys, quorum)
    broker = None
    if mqtt:
        broker = d / "mosquitto"
        port = subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "mosquitto.sh"), "start", str(broker)],
                              check=True, capture_output=True, text=True).stdout.strip()
        mqtt_addr: str | None = f"127.0.0.1:{port}"
    else:
        mqtt_addr = None
    ports = {n: (base_port + i if base_port else _free_port()) for i, n in enumerate(names)}
    stores = {n: store_url.format(name=n.replace("-", "_")) for n in names} if store_url else None
    with console.status(f"starting {nodes} oracle node processes…"):
        cluster = start_cluster(d, rpc_url, keys, ports, stores, mqtt_addr, takeover_s=takeover_s)
    t = Table(title=f"oracle network: {quorum} of {nodes} (config digest 0x{dep.config_digest().hex()[:16]}…)")
    for c in ("name", "address", "port", "store", "pid"):
        t.add_column(c)
    for n in cluster.nodes.values():
        t.add_row(n.name, n.address, str(n.port), n.store, str(n.proc.pid))
    console.print(t)
    if mqtt_addr:
        console.print(f"MQTT broker {mqtt_addr}: publish to carbonledger/<device hex>/readings with QoS 1")
    console.print("Ctrl-C to stop")
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop:
            for n in cluster.nodes.values():
                if n.proc.poll() is not None:
                    console.print(f"[yellow]{n.name} exited ({n.proc.returncode}); restarting[/yellow]")
                    cluster.restart(n.name)
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        if broker is not None:
            subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "mosquitto.sh"), "stop", str(broker)], check=False)
        console.print("stopped")


@oracles_app.command("set")
def set_(add: Annotated[list[str] | None, typer.Option("--add", help="Oracle to add (oracle-i; key created, admitted if needed).")] = None,
         remove: Annotated[list[str] | None, typer.Option("--remove", help="Oracle to remove (name or address).")] = None,
         quorum: Annotated[int | None, typer.Option("--quorum", help="New quorum k (default: unchanged if still valid).")] = None,
         data_dir: DataDir = Path(".carbonledger"), rpc_url: RpcUrl = "http://127.0.0.1:8545") -> None:
    """Regulator: add or remove oracles and/or change the quorum (a new oracle-set version)."""
    from ledger.chain.client import ContractRevert
    from ledger.crypto.primitives import Signer
    d = data_dir.resolve()
    client, dep, regulator = _open(d, rpc_url)
    oset = dep.anchor.oracles()
    members = list(oset.oracles_)
    for name in add or []:
        keys = ensure_oracle_keys(d, [name])
        acct = client.add_account(keys[name])
        if bytes(client.call(dep.participants.functions.orgOf(acct))) == bytes(32):
            configure_admission(client, dep, regulator, name, acct)
        if acct not in members:
            members.append(acct)
    for name in remove or []:
        addr = name if name.startswith("0x") else Signer(ensure_oracle_keys(d, [name])[name]).address
        members = [m for m in members if m != to_checksum_address(addr)]
    k = quorum if quorum is not None else oset.quorum
    try:
        changed = set_oracle_set(client, dep, regulator, members, k)
    except ContractRevert as exc:
        console.print(f"[red]refused: {exc.error}{exc.args}[/red]")
        raise typer.Exit(2) from None
    console.print(("oracle set changed" if changed else "unchanged") + f": {k} of {len(members)}; config digest 0x{dep.config_digest().hex()}")


def configure_admission(client: ChainClient, dep: Any, regulator: str, name: str, account: str) -> None:
    """Admit ``name`` (oracle-i) as its own oracle-operator organisation."""
    p = oracle_participant(int(name.rsplit("-", 1)[1]))
    try:
        client.fund_on_dev_chain([account])
    except Exception:  # noqa: BLE001 - not a dev chain
        pass
    client.send([Call.of(dep.participants.functions.admit(org_id(p["uscc"]), dep.role(p["role"]), uscc_bytes32(p["uscc"]),
                                                          p["utc_offset"], account, p["name"]), regulator, f"admit {name}")])


@oracles_app.command("status")
def status(data_dir: DataDir = Path(".carbonledger"), rpc_url: RpcUrl = "http://127.0.0.1:8545") -> None:
    """The on-chain oracle set, quorum, version and config digest; the cluster's nodes if running."""
    d = data_dir.resolve()
    client, dep, _reg = _open(d, rpc_url)
    oset = dep.anchor.oracles()
    console.print(f"oracle set v{oset.version}: {oset.quorum} of {len(oset.oracles_)}; config digest 0x{dep.config_digest().hex()}")
    cf = d / "oracles" / "cluster.json"
    members = {m.address: m for m in Cluster.load(cf).members} if cf.exists() else {}
    t = Table()
    for c in ("address", "node", "url", "up"):
        t.add_column(c)
    for a in oset.oracles_:
        m = members.get(a)
        up_ = ""
        if m:
            try:
                up_ = "yes" if httpx.get(m.url + "/v1/oracle/info", timeout=1).status_code == 200 else "no"
            except httpx.HTTPError:
                up_ = "no"
        t.add_row(to_checksum_address(a), m.name if m else "", m.url if m else "", up_)
    console.print(t)


@oracles_app.command("anchor")
def anchor(device: Annotated[str, typer.Option(help="Device id (0x + 64 hex).")],
           start: Annotated[int, typer.Option(help="First period start, UTC s.")],
           end: Annotated[int, typer.Option(help="Last period end, UTC s (exclusive).")],
           period: Annotated[int, typer.Option(help="Period length, s.")] = 86_400,
           data_dir: DataDir = Path(".carbonledger")) -> None:
    """Trigger an anchor round on every running node (rotation decides who submits)."""
    import concurrent.futures as cf
    if end <= start or (end - start) % period:
        raise typer.BadParameter("need start < end and (end − start) a multiple of --period")
    periods = [[s, s + period] for s in range(start, end, period)]
    cluster = Cluster.load(data_dir.resolve() / "oracles" / "cluster.json")

    def one(m: Member) -> Any:
        try:
            return m.name, httpx.post(m.url + "/v1/oracle/anchor", json={"device": device, "periods": periods}, timeout=600).json()
        except httpx.HTTPError as exc:
            return m.name, str(exc)

    with cf.ThreadPoolExecutor(len(cluster.members)) as ex:
        for name, res in ex.map(one, cluster.members):
            if isinstance(res, str):
                console.print(f"{name}: down ({res})")
            else:
                console.print(f"{name}: " + ", ".join(f"{o['start']} {o['status']} #{o['batchId']}" for o in res))


if __name__ == "__main__":
    oracles_app()
