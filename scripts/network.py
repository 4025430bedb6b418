"""``carbonledger network`` — the consortium network of geth v1.13.15 Clique sealer nodes
(ledger.network), one per organisation:

* ``network up --nodes 4 [--period 1] --data-dir D``: create the network in D (keys, genesis,
  ``geth init``) unless D already holds one, start every node in the background and print the
  status table; a second ``up`` resumes from the data directories;
* ``network status``: node, organisation, head, peers, sealer, lag (and each node's RPC URL);
* ``network down``: stop every node (the data directories stay);
* ``network add-sealer NODE`` / ``network remove-sealer NODE``: a Clique vote by a majority of the
  sealers (``clique_propose`` over IPC);
* ``network heal [--quiet S]``: dial every node's peers again (``admin_addPeer``), then end a
  Clique stall — no new block for S seconds while the nodes follow more than one head — by
  keeping one fork and rewinding the other nodes to the common ancestor
  (``Network.resolve_stall``; README "Faults on the network");
* ``network reconcile --manifest deployment.json``: make every node's peers the nodes that the
  admitted organisations registered in ParticipantRegistry (ledger.network.permissioning);
* ``network besu-config --validators 4 --out DIR --manifest deployment.json --rpc-url URL``: the
  production recipe, a Besu QBFT network for the deployment (ledger.network.besu; Besu itself is not
  installed here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ledger.chain.client import ChainClient, ChainError
from ledger.contracts.deployment import Deployment, DeploymentError
from ledger.network import GenesisError, GethUnavailable, Network, NetworkError, NodeError, geth_binary
from ledger.network.besu import BesuConfigError, check_besu_parameters, write_besu_network
from ledger.network.genesis import DEFAULT_CHAIN_ID, DEFAULT_PERIOD_S, MAX_NODES, check_period, organisation_names
from ledger.network.permissioning import reconcile
from ledger.store.db import make_engine
from scripts.terminal import console

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NETWORK_DIR = Path(".carbonledger/network")

network_app = typer.Typer(help="The consortium network: geth v1.13.15 Clique nodes, one per organisation.",
                          no_args_is_help=True)

NetDir = Annotated[Path, typer.Option("--data-dir", envvar="CARBONLEDGER_NETWORK_DIR",
                                      help="Network directory (manifest, genesis, keystores, one data dir per node).")]
NodeArg = Annotated[str, typer.Argument(help="The node: its name (node-4), organisation (verifier-2) or 0-based index.")]


def _binary() -> Path:
    try:
        return geth_binary(PROJECT_ROOT)
    except GethUnavailable as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def _open(data_dir: Path) -> Network:
    try:
        return Network.open(data_dir, _binary())
    except NetworkError as exc:
        raise typer.BadParameter(str(exc), param_hint="--data-dir") from None


def _which(which: str) -> str | int:
    return int(which) if which.isdigit() else which


def print_status(net: Network) -> None:
    """The status table of the network (one row per node)."""
    rows = net.status()
    signers = next((len(net.signers(s.name)) for s in rows if s.running), 0)
    t = Table(title=f"network {net.root} — chain {net.chain_id}, Clique period {net.period} s, {signers} signers, "
                    f"{sum(s.running for s in rows)} of {len(rows)} nodes up")
    for col in ("node", "organisation", "head", "peers", "sealer", "lag", "RPC"):
        t.add_column(col, justify="right" if col in ("head", "peers", "lag") else "left")
    for s in rows:
        if not s.running:
            t.add_row(s.name, s.organisation, "down", "–", "–", "–", s.http_url)
            continue
        t.add_row(s.name, s.organisation, str(s.head), str(s.peers), "yes" if s.sealer else "no", str(s.lag), s.http_url)
    console.print(t)


@network_app.command("up")
def network_up(data_dir: NetDir = DEFAULT_NETWORK_DIR,
               nodes: Annotated[int, typer.Option(help=f"Nodes (1..{MAX_NODES}), one organisation each.")] = 4,
               period: Annotated[int, typer.Option(help="Seconds between blocks (Clique period, ≥ 0).")] = DEFAULT_PERIOD_S,
               chain_id: Annotated[int, typer.Option(help="Chain id of a new network.")] = DEFAULT_CHAIN_ID) -> None:
    """Create (first time) and start the network; print its status."""
    try:
        organisation_names(nodes)
        check_period(period)
        if data_dir.exists() and not data_dir.is_dir():
            raise typer.BadParameter(f"{data_dir} exists and is not a directory", param_hint="--data-dir")
    except GenesisError as exc:
        raise typer.BadParameter(str(exc)) from None
    binary = _binary()
    try:
        net = Network.up(data_dir, binary, nodes, period=period, chain_id=chain_id)
    except GenesisError as exc:
        raise typer.BadParameter(str(exc)) from None
    except NetworkError as exc:
        raise typer.BadParameter(str(exc), param_hint="--data-dir") from None
    except NodeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    print_status(net)
    console.print("organisation accounts (funded): " + ", ".join(f"{o} {a}" for o, a in net.accounts().items()))


@network_app.command("status")
def network_status(data_dir: NetDir = DEFAULT_NETWORK_DIR) -> None:
    """Node, organisation, head, peers, sealer, lag of every node."""
    print_status(_open(data_dir))


@network_app.command("down")
def network_down(data_dir: NetDir = DEFAULT_NETWORK_DIR) -> None:
    """Stop every node (SIGTERM); the data directories stay for the next `network up`."""
    net = _open(data_dir)
    net.stop()
    console.print(f"stopped {len(net.nodes)} nodes of {net.root}")


def _vote(data_dir: Path, which: str, authorize: bool) -> None:
    net = _open(data_dir)
    try:
        node = net.node(_which(which))
        signers = net.add_sealer(node.name) if authorize else net.remove_sealer(node.name)
    except NetworkError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"{node.name} ({node.spec.organisation}, {node.spec.sealer}) "
                  f"{'voted in' if authorize else 'voted out'}; signers now: {', '.join(signers)}")
    print_status(net)


@network_app.command("add-sealer")
def network_add_sealer(node: NodeArg, data_dir: NetDir = DEFAULT_NETWORK_DIR) -> None:
    """Vote a node's sealer key in (clique_propose from a majority of the sealers)."""
    _vote(data_dir, node, True)


@network_app.command("remove-sealer")
def network_remove_sealer(node: NodeArg, data_dir: NetDir = DEFAULT_NETWORK_DIR) -> None:
    """Vote a node's sealer key out (clique_propose from a majority of the sealers)."""
    _vote(data_dir, node, False)


@network_app.command("heal")
def network_heal(data_dir: NetDir = DEFAULT_NETWORK_DIR,
                 quiet: Annotated[float | None, typer.Option(
                     help="Seconds without a new block that make a stall (default: 5 periods + 5 s).", min=1.0)] = None,
                 timeout: Annotated[float, typer.Option(help="Seconds to wait for the import and the next block.",
                                                        min=1.0)] = 120.0) -> None:
    """After a partition: reconnect every node, and end a stall on several forks of equal difficulty."""
    net = _open(data_dir)
    try:
        net.connect(timeout=timeout)
        wait = net.default_quiet_s() if quiet is None else quiet
        console.print(f"watching the heads for {wait:.0f} s …")
        done = net.resolve_stall(quiet=wait, timeout=timeout)
    except (NetworkError, NodeError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if done is None:
        heads = ", ".join(f"{f.head} on {'+'.join(f.nodes)}" for f in net.forks()) or "no node is running"
        console.print(f"no stall (the heads moved, or all nodes follow one head): {heads}")
        print_status(net)
        return
    t = Table(title="stall resolved: fork kept (first) and forks rewound")
    for col in ("head", "hash", "total difficulty", "nodes", "action"):
        t.add_column(col, justify="right" if col in ("head", "total difficulty") else "left")
    for f in done.forks:
        action = "kept" if f == done.kept else ", ".join(f"{n} → block {done.ancestors[n]}" for n in f.nodes)
        t.add_row(str(f.head), f.head_hash[:18] + "…", str(f.total_difficulty), ", ".join(f.nodes), action)
    console.print(t)
    console.print(f"sealing resumed: every node at block {done.resumed_head} or above")
    print_status(net)


@network_app.command("reconcile")
def network_reconcile(manifest: Annotated[Path, typer.Option(help="The ledger's deployment.json on this network.")],
                      data_dir: NetDir = DEFAULT_NETWORK_DIR) -> None:
    """Peer every node with the admitted organisations' registered nodes only; drop the others."""
    net = _open(data_dir)
    try:
        client = ChainClient(next(n.http_url for n in net.nodes if n.running()), make_engine("sqlite://"))
        dep = Deployment.load(client, manifest)
        changes = reconcile(net, dep)
    except StopIteration:
        console.print("[red]no node is running: run `network up` first[/red]")
        raise typer.Exit(1) from None
    except (OSError, ValueError, DeploymentError, ChainError, NodeError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    t = Table(title="peers reconciled with ParticipantRegistry")
    for col in ("node", "organisation", "allowed peers", "dialled", "dropped"):
        t.add_column(col)
    for c in changes:
        t.add_row(c.node, net.node(c.node).spec.organisation, str(len(c.wanted)),
                  ", ".join(i[:12] + "…" for i in c.added) or "–", ", ".join(i[:12] + "…" for i in c.removed) or "–")
    console.print(t)


@network_app.command("besu-config")
def network_besu_config(
        out: Annotated[Path, typer.Option(help="Empty directory to write the Besu network into.")],
        manifest: Annotated[Path, typer.Option(help="The ledger's deployment.json (chain id, EVM version, registry).")],
        rpc_url: Annotated[str, typer.Option(help="JSON-RPC URL of the chain the manifest is deployed on.")] = "http://127.0.0.1:8545",
        validators: Annotated[int, typer.Option(help="QBFT validators, 1..16 (3f + 1 tolerate f faulty).")] = 4,
        period: Annotated[int, typer.Option(help="Block period in seconds (≥ 1).")] = 2) -> None:
    """Write a Hyperledger Besu QBFT network (genesis, validator keys, permissions_config.toml from
    ParticipantRegistry, RUNBOOK.md). Besu itself is not installed here."""
    try:
        check_besu_parameters(out, validators, period)
    except BesuConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        dep = Deployment.load(ChainClient(rpc_url, make_engine("sqlite://")), manifest)
        net = write_besu_network(out, dep, validators, period=period)
    except BesuConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    except (OSError, ValueError, DeploymentError, ChainError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    t = Table(title=f"Besu QBFT network in {net.out} — chain {net.chain_id}, {len(net.validators)} validators, "
                    f"block period {period} s")
    t.add_column("validator")
    t.add_column("address (node key)")
    t.add_column("enode")
    for v in net.validators:
        t.add_row(v.name, v.address, v.enode[:40] + "…")
    console.print(t)
    console.print(f"allowlists from ParticipantRegistry: {len(net.nodes_allowlist)} nodes, "
                  f"{len(net.accounts_allowlist)} accounts; see {net.out / 'RUNBOOK.md'}")
