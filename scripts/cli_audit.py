"""``carbonledger audit`` — index the chain's events into SQL and re-check the SQL caches.

* ``audit index``: follow every event of the deployment in ``DATA_DIR/deployment.json`` into
  the indexer database (default ``DATA_DIR/indexer.sqlite``), from its checkpoint.
* ``audit verify``: compare the indexed events with the chain and rebuild every anchored batch
  from each oracle store's readings (``DATA_DIR/oracles/<name>.sqlite``); print a table of the
  discrepancies ("no discrepancy" if none) and exit 1 if there is any.

The chain is reached read-only: the chain client gets an in-memory journal (it never signs).
Both follow final blocks only; K is read from the nodes (1 on the embedded node; ⌊N/2⌋+1 on a
Clique network of N signers, from ``clique_getSigners``, which geth serves over IPC only): a data
directory of ``run.sh --network`` holds the network in ``DATA_DIR/geth``, whose IPC sockets are
used; ``--ipc PATH`` names others. ``--confirmations`` / ``--final-after`` override K.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Engine, func, select

from ledger.chain.client import ChainClient, ChainError
from ledger.contracts.deployment import Deployment
from ledger.records.indexer import (
    ChainEvent,
    Indexer,
    IndexerBase,
    IndexerError,
    checkpoint_id,
    count_events,
    read_checkpoint,
)
from ledger.store.db import make_engine, sqlite_url
from ledger.verify.audit import Discrepancy, VerifyError, verify_events, verify_oracle_store
from ledger.verify.provenance import VerifierError
from ledger.verify.provenance import open_deployment as open_read_only
from oracles.store import find_oracle_stores
from scripts.terminal import console, progress_bars

audit_app = typer.Typer(help="Audit: index chain events into SQL; re-check the SQL caches against the chain.",
                        no_args_is_help=True)

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="CARBONLEDGER_HOME",
                                       help="State directory (deployment manifest, stores).")]
RpcUrl = Annotated[str | None, typer.Option("--rpc-url", help="JSON-RPC URL of the chain (default: the manifest's rpc_url).")]
Ipc = Annotated[list[Path] | None, typer.Option(
    "--ipc", help="IPC socket of a network node (repeatable), to read the finality depth K from the nodes "
                  "(clique_getSigners); default: DATA_DIR/geth/node-*/geth.ipc where DATA_DIR holds a network.")]
DbUrl = Annotated[str | None, typer.Option("--db-url", help="SQLAlchemy URL of the indexer database (default: DATA_DIR/indexer.sqlite).")]
DEFAULT_DIR = Path(".carbonledger")
#: Exit codes: 0 no discrepancy, 1 discrepancies found, 2 the audit could not run.
EXIT_DISCREPANCY, EXIT_ERROR = 1, 2


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(EXIT_ERROR)


def network_ipc(data_dir: Path, given: list[Path] | None) -> list[Path]:
    """IPC sockets to read the finality depth from: ``given`` (each must exist), else the sockets of
    the network in ``data_dir/geth`` (``run.sh --network``; none where the data dir holds no network).

    Raises:
        typer.Exit(2): a given path does not exist.
    """
    if given:
        missing = [str(p) for p in given if not p.exists()]
        if missing:
            raise _fail(f"no IPC socket at {', '.join(missing)}")
        return list(given)
    return sorted((data_dir / "geth").glob("node-*/geth.ipc"))


def open_deployment(data_dir: Path, rpc_url: str | None, ipc: list[Path] | None = None) -> Deployment:
    """The deployment of ``data_dir`` on the chain at ``rpc_url`` (default: the manifest's), read-only
    (:func:`ledger.verify.provenance.open_deployment`); its client asks ``ipc`` (:func:`network_ipc`)
    for the Clique signers, so that K comes from the nodes.

    Raises:
        typer.Exit(2): no manifest, the node is unreachable, or the manifest does not match it.
    """
    manifest = data_dir / "deployment.json"
    if not manifest.exists():
        raise _fail(f"{manifest} does not exist; run `carbonledger deploy` (or the demo) first")
    url = rpc_url or json.loads(manifest.read_text()).get("rpc_url") or "http://127.0.0.1:8545"
    sockets = network_ipc(data_dir, ipc)
    try:
        chain: str | ChainClient = url
        if sockets:
            chain = ChainClient(url, make_engine("sqlite://"), admin_ipc=[str(p) for p in sockets])
        return open_read_only(chain, manifest)
    except (VerifierError, ChainError) as exc:
        raise _fail(f"{exc} (at {url} with {manifest}); is the chain running (`carbonledger node run`)?") from None


def _indexer_engine(data_dir: Path, db_url: str | None) -> Engine:
    return make_engine(db_url or sqlite_url(data_dir / "indexer.sqlite"), metadata=IndexerBase)


def _bar() -> Progress:
    return progress_bars(remaining=False, transient=True, disable=not console.is_terminal)


@audit_app.command("index")
def audit_index(
    data_dir: DataDir = DEFAULT_DIR,
    rpc_url: RpcUrl = None,
    db_url: DbUrl = None,
    confirmations: Annotated[int | None, typer.Option(
        min=0, help="Index up to head minus this many blocks (default: final blocks only, K - 1).")] = None,
    step: Annotated[int, typer.Option(min=1, help="Blocks per eth_getLogs.")] = 2000,
    ipc: Ipc = None,
) -> None:
    """Index every event of the deployment's contracts into SQL, from the checkpoint on."""
    data_dir = data_dir.resolve()
    dep = open_deployment(data_dir, rpc_url, ipc)
    engine = _indexer_engine(data_dir, db_url)
    t0 = time.perf_counter()
    try:
        indexer = Indexer(dep, engine, confirmations=confirmations, step=step)
        with _bar() as bar:
            task = bar.add_task("index blocks", total=None)
            added = indexer.sync(progress=lambda done, total: bar.update(task, completed=done, total=total))
    except (IndexerError, ValueError) as exc:   # ValueError: no finality depth known (geth over HTTP: --confirmations)
        raise _fail(str(exc)) from None
    seconds = time.perf_counter() - t0
    for rw in indexer.rewinds:
        to = "the deployment block" if rw.to_block is None else f"block {rw.to_block}"
        console.print(f"[yellow]the chain changed below the checkpoint (block {rw.from_block}): walked back to {to}, "
                      f"deleted {rw.events_deleted} events and re-indexed[/yellow]")
    cp = indexer.checkpoint()
    with engine.connect() as conn:
        counts = conn.execute(select(ChainEvent.contract, ChainEvent.event, func.count())
                              .group_by(ChainEvent.contract, ChainEvent.event)
                              .order_by(ChainEvent.contract, ChainEvent.event)).all()
    t = Table(title=f"indexed events of chain {dep.client.chain_id} up to block {cp.last_block if cp else '—'}")
    t.add_column("contract")
    t.add_column("event")
    t.add_column("events", justify="right")
    for contract, event, n in counts:
        t.add_row(contract, event, f"{n:,}")
    console.print(t)
    console.print(f"{added:,} events added in {seconds:.2f} s; {sum(n for *_, n in counts):,} indexed in {engine.url} "
                  f"(blocks at least {indexer.confirmations + 1} deep)")


def _oracle_stores(data_dir: Path, urls: list[str] | None) -> list[tuple[str, str]]:
    """(name, URL) of the oracle stores to check: ``urls`` as given, else those in ``DATA_DIR/oracles``."""
    return [(u, u) for u in urls] if urls else find_oracle_stores(data_dir / "oracles")


@audit_app.command("verify")
def audit_verify(
    data_dir: DataDir = DEFAULT_DIR,
    rpc_url: RpcUrl = None,
    db_url: DbUrl = None,
    report_json: Annotated[Path | None, typer.Option("--report-json", help="Write the discrepancies as JSON to this path.")] = None,
    oracle_store: Annotated[list[str] | None, typer.Option(
        "--oracle-store", help="SQLAlchemy URL of an oracle store (repeatable; default: DATA_DIR/oracles/*.sqlite).")] = None,
    signatures: Annotated[bool, typer.Option("--signatures", help="Also check every reading's device signature (slower).")] = False,
    final_after: Annotated[int | None, typer.Option(
        min=1, help="Judge blocks this deep only (default: the chain's finality depth K).")] = None,
    ipc: Ipc = None,
) -> None:
    """Re-check the indexed events and the oracle stores' readings against the chain (exit 1 on any discrepancy)."""
    data_dir = data_dir.resolve()
    dep = open_deployment(data_dir, rpc_url, ipc)
    found: list[tuple[str, Discrepancy]] = []
    checked: dict[str, Any] = {}
    t0 = time.perf_counter()
    try:
        engine = _indexer_engine(data_dir, db_url)
        cp = read_checkpoint(engine, checkpoint_id(dep.manifest))
        n_events = count_events(engine)
        with _bar() as bar:
            task = bar.add_task("chain_events vs chain", total=None)
            found += [("indexer", d) for d in verify_events(
                dep, engine, progress=lambda done, total: bar.update(task, completed=done, total=total),
                final_after=final_after)]
        checked["indexer"] = {"db": str(engine.url), "events": n_events, "checkpoint_block": cp.last_block if cp else None,
                              "seconds": round(time.perf_counter() - t0, 3)}
        if cp is None and n_events == 0:
            console.print("[yellow]no events indexed yet: run `carbonledger audit index` to index them[/yellow]")
        for name, url in _oracle_stores(data_dir, oracle_store):
            t1 = time.perf_counter()
            store = make_engine(url)
            with _bar() as bar:
                task = bar.add_task(f"{name}: rebuild anchored batches", total=None)
                found += [(name, d) for d in verify_oracle_store(
                    dep, store, signatures=signatures,
                    progress=lambda done, total, task=task: bar.update(task, completed=done, total=total))]
            checked[name] = {"store": url, "signatures": signatures, "seconds": round(time.perf_counter() - t1, 3)}
            store.dispose()
    except (VerifyError, ChainError, ValueError) as exc:   # ValueError: no finality depth known (--final-after)
        raise _fail(str(exc)) from None
    seconds = time.perf_counter() - t0
    if found:
        t = Table(title=f"{len(found)} discrepancies")
        for col in ("source", "kind", "where", "detail"):
            t.add_column(col, overflow="fold")
        for source, d in found:
            t.add_row(source, d.kind, d.where, d.detail)
        console.print(t)
    else:
        console.print(f"[green]no discrepancy[/green] ({', '.join(checked)}; {seconds:.1f} s)")
    if report_json:
        report_json.parent.mkdir(parents=True, exist_ok=True)
        report_json.write_text(json.dumps({
            "chain_id": dep.client.chain_id, "checked": checked, "seconds": round(seconds, 3),
            "discrepancies": [{"source": s, **d.as_dict()} for s, d in found]}, indent=2, ensure_ascii=False))
        console.print(f"report written to {report_json}")
    if found:
        raise typer.Exit(EXIT_DISCREPANCY)
