"""``carbonledger bench table``: the benchmark table of :mod:`oracles.bench_table` (embedded node vs
the geth Clique network), with the three measurements that live in scripts/ and api/ wired in:
the main job with its monthly cycle over the HTTP API (:func:`scripts.demo.run_demo`), ``bench
ingest``'s HTTP run (:func:`scripts.bench_ingest.http_run`) and audit queries through the API
(:func:`scripts.demo_http.serve_api`)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.auth import issue_key, revoke_key
from api.client import ApiClient
from ledger.chain.anvil import free_port
from ledger.identifiers import org_id
from ledger.store.db import make_engine, sqlite_url
from oracles.bench_table import Sizes, markdown, run_table, write_png
from oracles.system import PARTICIPANTS, System
from scripts.bench_ingest import BENCH_SERIAL, BenchChain, bench_app, http_bodies, http_run, presign
from scripts.demo import run_demo
from scripts.demo_http import serve_api

__all__ = ["bench_app"]


class CliProbes:
    """:class:`oracles.bench_table.Probes` through the demo, ``bench ingest`` and the HTTP API."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def main_job(self, system: System, start: date, end: date) -> dict[str, Any]:
        return run_demo(system, start, end, log=lambda m: self.console.print(f"  {m}", markup=False), seed=1).report

    def ingest(self, system: System, readings: int, nodes: int) -> float:
        chain = BenchChain.of(system)
        devices = 2
        chain.register([BENCH_SERIAL.format(i) for i in range(devices)])
        _, parts, _ = presign(system.data_dir / "bench", readings, date(2007, 1, 1), devices, system.dep.domain.separator)
        n = sum(map(len, parts))
        run = http_run(chain, system.data_dir, nodes, http_bodies(parts, 5_000), n)
        return statistics.median(v["readings_per_second"] for v in run["per_node"].values())

    def audit(self, system: System, queries: int) -> list[float]:
        store = make_engine(sqlite_url(system.data_dir / "api.sqlite"))
        key = issue_key(store, system.dep, org_id(PARTICIPANTS["regulator"]["uscc"]), "REGULATOR_ROLE", label="bench table")
        out = []
        with serve_api(system, free_port()) as base:
            api = ApiClient(base, api_key=key)
            try:
                api.get("/v1/audit/records/1")   # warm-up (connection, caches)
                for i in range(queries):
                    t = time.perf_counter()
                    api.get("/v1/audit/records/1" if i % 2 == 0 else "/v1/audit/batches/1")
                    out.append(time.perf_counter() - t)
            finally:
                api.close()
                revoke_key(store, key.split("_")[1])
        return out


def print_table(table: dict[str, Any], console: Console) -> None:
    """The table on the terminal."""
    m = table["machine"]
    t = Table(title=f"benchmark: {m['anvil']} vs {m['geth']} — {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB")
    t.add_column("metric")
    t.add_column("unit")
    t.add_column("embedded", justify="right")
    t.add_column("network", justify="right")
    for r in table["rows"]:
        t.add_row(r["metric"], r["unit"], f"{r['embedded']:,}", f"{r['network']:,}")
    console.print(t)


@bench_app.command("table")
def table(
    report_json: Annotated[Path, typer.Option("--report-json", help="Write the table JSON here.")],
    png: Annotated[Path, typer.Option("--png", help="Write the chart here.")],
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes (about two minutes per engine).")] = False,
    nodes: Annotated[int, typer.Option(min=1, max=8, help="Sealer nodes of the network.")] = 4,
    period: Annotated[int, typer.Option(min=1, help="Clique block period, seconds.")] = 1,
    readings: Annotated[int | None, typer.Option(min=100, help="Readings streamed per oracle node.")] = None,
    days: Annotated[int | None, typer.Option(min=1, max=62, help="Days of the main job from 2007-01-01.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Work directory (default: a temporary one, removed).")] = None,
    markdown_out: Annotated[Path | None, typer.Option("--markdown", help="Also write the table as markdown here.")] = None,
) -> None:
    """Measure gas per operation, throughput, finality and audit latency on the embedded node and a
    geth Clique network, side by side (oracles/bench_table.py)."""
    console = Console(width=None if os.isatty(1) else 150)
    sizes = Sizes.quick() if quick else Sizes()
    if readings:
        sizes = Sizes(**{**sizes.__dict__, "readings": readings})
    if days:
        sizes = Sizes(**{**sizes.__dict__, "end": date.fromordinal(sizes.start.toordinal() + days)})
    work = data_dir or Path(tempfile.mkdtemp(prefix="bench-table-"))
    t0 = time.perf_counter()
    try:
        result = run_table(work.resolve(), CliProbes(console), sizes, nodes=nodes, period=period,
                           progress=lambda m: console.print(f"[{time.perf_counter() - t0:6.0f} s] {m}", markup=False))
    finally:
        if data_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    report_json.parent.mkdir(parents=True, exist_ok=True)
    report_json.write_text(json.dumps(result, indent=2))
    write_png(result, png)
    if markdown_out:
        markdown_out.write_text(markdown(result) + "\n")
    print_table(result, console)
    console.print(f"table written to {report_json}, chart to {png} ({time.perf_counter() - t0:.0f} s)")
