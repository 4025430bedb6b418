"""``carbonledger`` — the one command-line program (Typer + Rich), sub-commands by noun."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.table import Table
from sqlalchemy import Engine

from api.app import create_app
from api.auth import AuthError, issue_key, list_keys, revoke_key, rotate_key
from ledger.chain.anvil import AnvilNode, anvil_binary
from ledger.contracts.deployment import Deployment, DeploymentError
from ledger.identifiers import InvalidUscc, org_id
from ledger.store.db import make_engine, sqlite_url
from oracles.runtime import open_oracle_node
from oracles.system import PROJECT_ROOT, System, open_keystore
from scripts.alerts import alerts_app
from scripts.bench_rounds import rounds_command
from scripts.bench_table import bench_app
from scripts.cli_audit import audit_app
from scripts.data_quality import data_quality
from scripts.demo import run_demo
from scripts.gec import gec_app
from scripts.governance import governance_app
from scripts.network import network_app
from scripts.oracle_node import create_node_app
from scripts.oracles_up import oracles_app
from scripts.registry_replay import registry_app
from scripts.simulate import simulate
from scripts.terminal import console, progress_bars
from scripts.verify import verify

app = typer.Typer(help="CarbonLedger: signed meter data, oracle anchoring, on-chain emissions accounting.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
node_app = typer.Typer(help="The embedded chain (Anvil).", no_args_is_help=True)
oracle_app = typer.Typer(help="Oracle nodes.", no_args_is_help=True)
api_app = typer.Typer(help="The HTTP API.", no_args_is_help=True)
app.add_typer(node_app, name="node")
app.add_typer(oracle_app, name="oracle")
app.add_typer(api_app, name="api")
app.add_typer(audit_app, name="audit")
admin_app = typer.Typer(help="API keys: issue, rotate, revoke, list.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="CARBONLEDGER_HOME", help="State directory (chain snapshot, journal, stores, keys).")]
DEFAULT_DIR = Path(".carbonledger")


def _parse_day(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise typer.BadParameter(f"{s!r} is not a date YYYY-MM-DD") from None


def _system(data_dir: Path, port: int, rpc_url: str | None, network: int | None = None) -> System:
    log = lambda m: console.print(f"[dim]{m}[/dim]")  # noqa: E731
    if network is not None:
        with console.status(f"starting (or reusing) the {network}-node geth Clique network…"):
            return System.on_network(data_dir.resolve(), network, log=log)
    return System(data_dir.resolve(), rpc_url=rpc_url, port=port, log=log)


def print_report(report: dict[str, Any]) -> None:
    """Print the main job's report as a table."""
    t = Table(title=f"Purchased electricity, meter {report['device'][:12]}…  (enterprise {report['enterprise_uscc']}, "
                    f"local days {report['range']['start']} → {report['range']['end']} {report['range']['utc_offset']})")
    for col in ("month", "accepted", "quarantined", "gaps (min)", "imputed (min)", "energy MWh", "emissions tCO2", "batches", "status"):
        t.add_column(col, justify="left" if col in ("month", "status") else "right")
    for m in report["months"]:
        t.add_row(m["month"], f"{m['readings_accepted']:,}", f"{m['readings_quarantined']:,}", f"{m['gaps']:,}",
                  f"{m['imputed_by_source']:,}", f"{m['energy_mwh']:.3f}", f"{m['emissions_tco2']:.3f}", str(m["batches"]), m["status"])
    tt = report["totals"]
    t.add_section()
    t.add_row("total", f"{tt['readings_accepted']:,}", f"{tt['readings_quarantined']:,}", f"{tt['gaps']:,}",
              f"{tt['imputed_by_source']:,}", f"{tt['energy_mwh']:.3f}", f"{tt['emissions_tco2']:.3f}", str(tt["batches"]), "")
    console.print(t)
    console.print(f"transactions this run: {report['transactions']:,} (gas {report['gas_used']:,}); "
                  f"all runs: {report['transactions_total']:,} (gas {report['gas_used_total']:,})")
    console.print(f"anchoring: {report['anchoring_gas']:,} gas for {report['anchored_readings']:,} readings = "
                  f"{report['gas_per_reading']} gas per reading (3 of 4 oracle signatures per batch)")
    console.print(f"readings signed and ingested this run: {report['readings_signed_this_run']:,} by 4 oracle nodes; "
                  f"time {report['seconds']:.1f} s; {report['readings_per_second']:,.0f} readings/s overall, "
                  f"{report['ingest_readings_per_second']:,.0f} readings/s in sign+ingest")
    console.print(f"phases (s): {report['timings']}")
    if "cpu_seconds" in report:
        console.print(f"CPU per phase (s; this job and its child processes: chain node, oracle node processes, check workers): "
                      f"{report['cpu_seconds']}")
    ch = report.get("chain")
    if ch:
        fin = ch["finality_s"] or {}
        console.print(f"chain: {ch['engine']} ({ch['version']}), {ch['nodes']} sealing node(s), block period "
                      f"{ch['block_period_s']} s, final after {ch['final_after_blocks']} block(s); {ch['blocks']:,} blocks, "
                      f"{ch['tx_per_s']} tx/s, time to finality p50 {fin.get('p50')} s, p99 {fin.get('p99')} s")


@app.command()
def demo(
    start: Annotated[str, typer.Option(help="First local day (YYYY-MM-DD).")] = "2007-01-01",
    end: Annotated[str, typer.Option(help="Day after the last (exclusive, YYYY-MM-DD).")] = "2008-01-01",
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Exit after the report instead of serving the API.")] = False,
    report_json: Annotated[Path | None, typer.Option(help="Write the report as JSON to this path.")] = None,
    data_dir: DataDir = DEFAULT_DIR,
    port: Annotated[int, typer.Option(help="Port of the embedded chain.")] = 8545,
    api_port: Annotated[int, typer.Option(help="Port of the API served after the report.")] = 8000,
    rpc_url: Annotated[str | None, typer.Option(help="Use this JSON-RPC node instead of the embedded chain.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the verifier's proof sample.")] = None,
    network: Annotated[int | None, typer.Option(
        min=1, max=16, help="Run on an N-node geth Clique network (started or reused in DATA_DIR/geth; "
                            "default DATA_DIR: .carbonledger/network-N) instead of the embedded chain.")] = None,
) -> None:
    """The main job: real UCI meter data signed, anchored by 3 of 4 oracles (OCR2, f = 1), emissions computed
    on-chain per month, verified, confirmed; then serve the API until Ctrl-C."""
    s, e = _parse_day(start), _parse_day(end)
    if e <= s:
        raise typer.BadParameter("--end must be after --start")
    if network is not None and rpc_url is not None:
        raise typer.BadParameter("--network and --rpc-url exclude each other")
    if network is not None and data_dir == DEFAULT_DIR:
        data_dir = DEFAULT_DIR / f"network-{network}"
    t0 = time.perf_counter()
    system = _system(data_dir, port, rpc_url, network)
    try:
        with console.status("starting the chain, compiling and deploying…"):
            system.start()
    except DeploymentError as exc:
        console.print(f"[red]{data_dir}: {exc}[/red]")
        raise typer.Exit(2) from None
    try:
        with progress_bars() as bar:
            tasks: dict[str, Any] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task({"ingest": "sign + verify + store readings", "anchor": "anchor weekly batches"}.get(phase, phase), total=total)
                bar.update(tasks[phase], completed=done, total=total)

            result = run_demo(system, s, e, progress=progress, log=lambda m: console.print(m), seed=seed)
        rep = result.report
        rep["seconds_including_startup"] = round(time.perf_counter() - t0, 2)
        print_report(rep)
        rejected = [i for i, v in result.verification.items() if not v.passed]
        if rejected:
            console.print(f"[red]verifier rejected records {rejected}: {[result.verification[i].findings[:2] for i in rejected]}[/red]")
        console.print(f"wall time including start-up: {rep['seconds_including_startup']:.1f} s")
        if report_json:
            report_json.parent.mkdir(parents=True, exist_ok=True)
            report_json.write_text(json.dumps(rep, indent=2))
            console.print(f"report written to {report_json}")
        system.node and system.node.snapshot()
        if not no_serve:
            _serve(system, api_port)
    finally:
        system.stop()


def _serve(system: System, api_port: int) -> None:
    app_ = create_app(system.dep, make_engine(sqlite_url(system.data_dir / "api.sqlite")), system.oracle_nodes[0],
                      custodial=[system.accounts[n] for n in ("regulator", "enterprise")])
    console.print(f"serving the API on http://127.0.0.1:{api_port} (OpenAPI: /docs); Ctrl-C to stop")
    uvicorn.run(app_, host="127.0.0.1", port=api_port, log_level="warning")


@node_app.command("run")
def node_run(data_dir: DataDir = DEFAULT_DIR, port: int = 8545,
             snapshot_every: Annotated[float, typer.Option(help="Seconds between state snapshots.")] = 30.0) -> None:
    """Run the embedded chain in the foreground, snapshotting its state, until Ctrl-C."""
    node = AnvilNode(anvil_binary(PROJECT_ROOT), data_dir.resolve() / "chain", port=port)
    node.start()
    console.print(f"chain {node.chain_id} on {node.url}; snapshot {node.snapshot_path}")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop:
            time.sleep(min(snapshot_every, 1.0))
            if int(time.monotonic()) % max(int(snapshot_every), 1) == 0:
                node.snapshot()
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()


@app.command()
def deploy(data_dir: DataDir = DEFAULT_DIR, port: int = 8545, rpc_url: Annotated[str | None, typer.Option()] = None) -> None:
    """Compile, deploy (or find) the contracts and register the demo participants; print the manifest."""
    system = _system(data_dir, port, rpc_url)
    system.start()
    try:
        t = Table(title=f"deployment on chain {system.client.chain_id} (solc {system.dep.manifest['compiler']['solc']}, evm paris)")
        t.add_column("contract")
        t.add_column("address")
        t.add_column("bytecode sha256")
        for n, info in system.dep.manifest["contracts"].items():
            t.add_row(n, info["address"], info["bytecode_sha256"][:16] + "…")
        console.print(t)
    finally:
        system.stop()


@oracle_app.command("serve")
def oracle_serve(name: Annotated[str, typer.Option(help="oracle-1, oracle-2 or oracle-3")] = "oracle-1",
                 data_dir: DataDir = DEFAULT_DIR,
                 rpc_url: Annotated[str, typer.Option(help="JSON-RPC URL of the chain.")] = "http://127.0.0.1:8545",
                 port: Annotated[int, typer.Option(help="HTTP port of this node.")] = 8101) -> None:
    """Run one oracle node as its own process, outside a cluster: POST /v1/readings, proofs
    (/v1/oracle/proofs/{device}/{sequence}), health — the oracle routes only (scripts/oracle_node.py)."""
    dep, node = open_oracle_node(data_dir.resolve(), name, rpc_url)
    console.print(f"oracle node {name} ({node.address}) on http://127.0.0.1:{port}")
    uvicorn.run(create_node_app(dep, node), host="127.0.0.1", port=port, log_level="warning")


@api_app.command("serve")
def api_serve(data_dir: DataDir = DEFAULT_DIR,
              rpc_url: Annotated[str, typer.Option(help="JSON-RPC URL of the chain.")] = "http://127.0.0.1:8545",
              port: int = 8000) -> None:
    """Serve the audit API for a deployment (read-only; chain must be running)."""
    d = data_dir.resolve()
    dep, node = open_oracle_node(d, "oracle-1", rpc_url)
    custodial = [dep.client.add_account(k) for label, k in open_keystore(d).unlock_all().items() if label in ("regulator", "enterprise")]
    uvicorn.run(create_app(dep, make_engine(sqlite_url(d / "api.sqlite")), node, custodial), host="127.0.0.1", port=port, log_level="warning")


def _admin_ctx(data_dir: Path, rpc_url: str) -> tuple[Deployment, Engine]:
    d = data_dir.resolve()
    dep, _node = open_oracle_node(d, "oracle-1", rpc_url)
    return dep, make_engine(sqlite_url(d / "api.sqlite"))


@admin_app.command("issue-key")
def admin_issue_key(org: Annotated[str, typer.Option(help="Unified social credit code of the organisation.")],
                    role: Annotated[str, typer.Option(help="ENTERPRISE_ROLE, VERIFIER_ROLE, REGULATOR_ROLE, …")],
                    account: Annotated[str | None, typer.Option(help="Account of the organisation (default: its first).")] = None,
                    label: str = "", data_dir: DataDir = DEFAULT_DIR, rpc_url: str = "http://127.0.0.1:8545") -> None:
    """Issue an API key bound to an account and on-chain role; printed once, stored hashed."""
    dep, store = _admin_ctx(data_dir, rpc_url)
    try:
        key = issue_key(store, dep, org_id(org), role.upper(), account, label)
    except (AuthError, InvalidUscc) as exc:
        console.print(f"[red]refused: {exc}[/red]")
        raise typer.Exit(2) from None
    console.print(key)


@admin_app.command("rotate-key")
def admin_rotate_key(key_id: str, data_dir: DataDir = DEFAULT_DIR, rpc_url: str = "http://127.0.0.1:8545") -> None:
    """Issue a replacement for KEY_ID (same binding) and revoke KEY_ID."""
    dep, store = _admin_ctx(data_dir, rpc_url)
    try:
        console.print(rotate_key(store, dep, key_id))
    except AuthError as exc:
        console.print(f"[red]refused: {exc}[/red]")
        raise typer.Exit(2) from None


@admin_app.command("revoke-key")
def admin_revoke_key(key_id: str, data_dir: DataDir = DEFAULT_DIR, rpc_url: str = "http://127.0.0.1:8545") -> None:
    """Revoke KEY_ID at once."""
    _dep, store = _admin_ctx(data_dir, rpc_url)
    try:
        revoke_key(store, key_id)
    except AuthError as exc:
        console.print(f"[red]refused: {exc}[/red]")
        raise typer.Exit(2) from None
    console.print(f"revoked {key_id}")


@admin_app.command("list-keys")
def admin_list_keys(data_dir: DataDir = DEFAULT_DIR, rpc_url: str = "http://127.0.0.1:8545") -> None:
    """List API keys (ids, bindings, status; never secrets)."""
    _dep, store = _admin_ctx(data_dir, rpc_url)
    t = Table(title="API keys")
    for c in ("key id", "account", "role", "label", "status"):
        t.add_column(c)
    for k in list_keys(store):
        t.add_row(k.key_id, k.account, k.role, k.label, "revoked" if k.revoked_at else "active")
    console.print(t)


app.command("data-quality")(data_quality)
app.add_typer(oracles_app, name="oracles", help="The oracle network: n node processes with a quorum.")
app.add_typer(registry_app, name="registry", help="Offset registry: replay real registry exports through CCERRegistry.")
app.command("simulate")(simulate)
app.add_typer(alerts_app, name="alerts")
app.add_typer(gec_app, name="gec")
app.command("verify")(verify)
app.add_typer(network_app, name="network")
bench_app.command("rounds")(rounds_command)
app.add_typer(bench_app, name="bench", help="Benchmarks: oracle ingestion over HTTP, gas per reading, the embedded-vs-network table.")
app.add_typer(governance_app, name="governance", help="The regulator council: approve, cancel, execute constitutional acts.")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
