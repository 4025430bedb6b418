"""``carbonledger oracles``: a local oracle network as independent processes (issue 5); the
command line of :mod:`oracles.cluster`.

    carbonledger oracles up --nodes 4 --quorum 3 [--data-dir D] [--rpc-url U] [--mqtt]
    carbonledger oracles set --add oracle-5 | --remove oracle-2 | --quorum 3
    carbonledger oracles status
    carbonledger oracles anchor --device 0x… --start S --end E --period 3600

``up`` needs a deployment in the data directory (``carbonledger deploy``). It gives every node
``oracle-1..N`` its own keystore key, admits each as its own organisation if needed (the
anchor refuses two oracles of one organisation: ``OracleOrganisationRepeated``), sets the
on-chain oracle set and quorum (regulator), writes ``D/oracles/cluster.json``, starts one
process per node (:mod:`scripts.oracle_node`: own store, own HTTP port, optional MQTT subscription
to a private mosquitto started by scripts/mosquitto.sh) and runs until Ctrl-C.
The lead mounts :data:`oracles_app` as ``carbonledger oracles``; ``python -m scripts.oracles_up``
runs it standalone.
"""

from __future__ import annotations

import concurrent.futures as cf
import signal
import subprocess
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from eth_utils import to_checksum_address
from rich.table import Table

from ledger.chain.anvil import free_port
from ledger.chain.client import ChainClient, ContractRevert
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import Signer
from ledger.meter_data.reading import quorum_of
from oracles.cluster import (
    NoDeployment,
    configure_admission,
    configure_oracles,
    ensure_oracle_keys,
    open_as_regulator,
    set_oracle_set,
    start_cluster,
)
from oracles.network import DEFAULT_TAKEOVER_S, Cluster, Member
from oracles.system import PROJECT_ROOT
from scripts.terminal import console

"""scripts/bench_ingest.py imports this name; its owner switches to ``ledger.chain.anvil.free_port``."""
oracles_app = typer.Typer(help="The oracle network: n node processes with a quorum.", no_args_is_help=True)
DataDir = Annotated[Path, typer.Option("--data-dir", envvar="CARBONLEDGER_HOME", help="State directory of the deployment.")]
RpcUrl = Annotated[str, typer.Option(help="JSON-RPC URL of the chain.")]


def _open(data_dir: Path, rpc_url: str) -> tuple[ChainClient, Deployment, str]:
    try:
        return open_as_regulator(data_dir, rpc_url)
    except NoDeployment as e:
        raise typer.BadParameter(str(e)) from None


@oracles_app.command("up")
def up(nodes: Annotated[int, typer.Option("--nodes", min=4, max=255, help="Number of oracle nodes n (n >= 3f + 1).")] = 4,
       f: Annotated[int, typer.Option("--f", min=1, help="Faulty oracles tolerated f (OCR2: quorum floor((n + f)/2) + 1).")] = 1,
       data_dir: DataDir = Path(".carbonledger"),
       rpc_url: RpcUrl = "http://127.0.0.1:8545",
       base_port: Annotated[int, typer.Option(help="HTTP port of oracle-1 (oracle-i gets base+i−1); 0 = free ports.")] = 8101,
       mqtt: Annotated[bool, typer.Option("--mqtt/--no-mqtt", help="Start a private mosquitto and subscribe every node.")] = False,
       store_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL template of the stores, {name} replaced (default SQLite files).")] = None,
       takeover_s: Annotated[float, typer.Option(help="Seconds per rank before a node takes a round over.")] = DEFAULT_TAKEOVER_S) -> None:
    """Start N oracle node processes with an OCR2 on-chain quorum (n >= 3f + 1, floor((n + f)/2) + 1
    signatures); run until Ctrl-C."""
    try:
        quorum_of(nodes, f)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc} (MeterDataAnchor.setOracles)") from None
    d = data_dir.resolve()
    client, dep, regulator = _open(d, rpc_url)
    names = [f"oracle-{i}" for i in range(1, nodes + 1)]
    keys = ensure_oracle_keys(d, names)
    with console.status("admitting oracles and setting the quorum…"):
        configure_oracles(client, dep, regulator, keys, f)
    broker = None
    if mqtt:
        broker = d / "mosquitto"
        port = subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "mosquitto.sh"), "start", str(broker)],
                              check=True, capture_output=True, text=True).stdout.strip()
        mqtt_addr: str | None = f"127.0.0.1:{port}"
    else:
        mqtt_addr = None
    ports = {n: (base_port + i if base_port else free_port()) for i, n in enumerate(names)}
    stores = {n: store_url.format(name=n.replace("-", "_")) for n in names} if store_url else None
    with console.status(f"starting {nodes} oracle node processes…"):
        cluster = start_cluster(d, rpc_url, keys, ports, stores, mqtt_addr, takeover_s=takeover_s)
    t = Table(title=f"oracle network: {quorum_of(nodes, f)} of {nodes}, f = {f} (config digest 0x{dep.config_digest().hex()[:16]}…)")
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
         f: Annotated[int | None, typer.Option("--f", help="New fault tolerance f (default: unchanged; quorum floor((n + f)/2) + 1).")] = None,
         data_dir: DataDir = Path(".carbonledger"), rpc_url: RpcUrl = "http://127.0.0.1:8545") -> None:
    """Regulator: add or remove oracles and/or change f (a new oracle-set version)."""
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
    fault = f if f is not None else dep.anchor.faultTolerance()
    try:
        changed = set_oracle_set(client, dep, regulator, members, fault)
    except ContractRevert as exc:
        console.print(f"[red]refused: {exc.error}{exc.args}[/red]")
        raise typer.Exit(2) from None
    console.print(("oracle set changed" if changed else "unchanged")
                  + f": {dep.anchor.oracles().quorum} of {len(members)} (f = {fault}); config digest 0x{dep.config_digest().hex()}")


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
