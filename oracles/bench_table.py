"""The benchmark table (issue 11): the same measurements, in one run, on the embedded node (Anvil)
and on a geth Clique network (default 4 sealers, period 1 s), side by side.

Each engine gets a fresh :class:`oracles.system.System` (the demo deployment; on the network
:meth:`System.on_network`) and these measurements, all through existing code:

- the main job (``probes.main_job``: the demo's, monthly cycle over the HTTP API) on a short
  slice of 2007: gas of ``registerDevice``, of an anchor (the run's anchoring gas / its anchors),
  gas per reading (the main job report's ``gas_per_reading``), of recording a month and of the
  verifier's attestation — read from the client's write-ahead journal by label;
- :func:`ledger.simulation.asset_gas.measure_asset_gas` on the same engine (a second, throwaway
  deployment): issue CEA, issue CCER with serials, transfer, retire, surrender CEA and CCER to a
  compliance year (a coal unit with a confirmed year of records), settle 1 and 100 trades;
  trades settled per second = 100 / wall seconds from signing the 100-trade settlement to its
  receipt;
- readings per second per oracle node (``probes.ingest``: ``bench ingest``'s HTTP run against
  node processes reading devices from this engine);
- time to finality: ``finality_samples`` writes, one at a time, each timed from signing to the
  client seeing it ``K`` blocks deep (:meth:`ChainClient.wait_final`; K = 1 on Anvil, ⌊N/2⌋+1 on
  Clique) — wall clock, so the embedded node's figure is its round trip, not 0;
- blocks and transactions per second over the whole measuring window (blocks of the chain
  between its first and last block / wall seconds; transactions in them / wall seconds);
- audit-query latency (``probes.audit``: ``GET /v1/audit/records/{id}`` and
  ``/v1/audit/batches/{id}`` through the HTTP API, alternately).

The JSON (:func:`table_json`) is ``{"machine": {...}, "rows": [{"metric", "unit", "embedded",
"network"}]}``, numbers only, one row per percentile (nearest rank, :func:`ledger.chain.metrics.percentile`).
"""

from __future__ import annotations

import math
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from matplotlib.figure import Figure
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.chain.anvil import free_port
from ledger.chain.client import Call, ChainClient
from ledger.chain.journal import JournalEntry
from ledger.chain.metrics import percentile
from ledger.contracts.compiler import REPO_ROOT
from ledger.simulation.asset_gas import measure_asset_gas
from oracles.system import System

ENGINES = ("embedded", "network")

#: (key, metric, unit) of every row, in table order.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("register_device", "gas: register a device", "gas"),
    ("anchor", "gas: anchor a batch (3 of 4 oracle signatures)", "gas"),
    ("gas_per_reading", "gas per reading (weekly batches)", "gas"),
    ("record_month", "gas: record a month", "gas"),
    ("attest", "gas: attest (verifier, relayed)", "gas"),
    ("issue_cea", "gas: issue CEA (new holder)", "gas"),
    ("issue_ccer", "gas: issue CCER with serials (first batch)", "gas"),
    ("transfer", "gas: transfer (new receiver)", "gas"),
    ("transfer_warm", "gas: transfer (warm receiver)", "gas"),
    ("retire", "gas: retire CEA", "gas"),
    ("surrender_cea", "gas: surrender CEA", "gas"),
    ("surrender_ccer", "gas: surrender CCER", "gas"),
    ("settle_1", "gas: settle 1 trade", "gas"),
    ("settle_100", "gas: settle 100 trades (one transaction)", "gas"),
    ("readings_per_s", "readings per second per oracle node (HTTP)", "readings/s"),
    ("trades_per_s", "trades settled per second (100 in one transaction)", "trades/s"),
    ("blocks_per_s", "blocks per second", "blocks/s"),
    ("tx_per_s", "transactions per second", "tx/s"),
    ("finality_p50", "time to finality p50", "s"),
    ("finality_p99", "time to finality p99", "s"),
    ("audit_p50", "audit query latency p50 (API)", "ms"),
    ("audit_p99", "audit query latency p99 (API)", "ms"),
)

#: asset_gas rows used by the table (labels of :func:`ledger.simulation.asset_gas.measure_asset_gas`).
ASSET_ROWS = {
    "issue_cea": "issue CEA (EOA with CEA_ISSUER_ROLE), new holder",
    "issue_ccer": "issueBatch CCER with serials (first batch of the prefix)",
    "transfer": "transfer (safeTransferFrom), new receiver balance",
    "transfer_warm": "transfer, existing receiver balance",
    "retire": "retire CEA (holder)",
    "surrender_cea": "surrender CEA (enterprise, within the obligation)",
    "surrender_ccer": "surrender CCER (enterprise, within the 5 % cap)",
    "settle_1": "settle 1 trade (DvP, both fees)",
    "settle_100": "settle 100 trades, per transaction",
}

#: Journal labels of the main job's writes (oracles/system.py, oracles/submitter.py, the API's
#: record and attestation relays), as regular expressions.
JOURNAL_ROWS = {"register_device": r"^registerDevice", "record_month": r"^record \d+-\d+", "attest": r"^relay attest "}


class Probes(Protocol):
    """The measurements whose code lives above this layer (scripts/, api/), injected by the CLI."""

    def main_job(self, system: System, start: date, end: date) -> dict[str, Any]:
        """Run the main job on ``[start, end)``; its report (``gas_per_reading``, ``anchoring_gas``)."""
        ...

    def ingest(self, system: System, readings: int, nodes: int) -> float:
        """Readings per second per oracle node over HTTP (median over the nodes)."""
        ...

    def audit(self, system: System, queries: int) -> list[float]:
        """Latencies (seconds) of ``queries`` audit queries through the HTTP API."""
        ...


@dataclass(frozen=True)
class Sizes:
    """How much each engine measures (``--quick`` halves the run to about a minute per engine)."""

    start: date = date(2007, 1, 1)
    end: date = date(2007, 1, 8)
    readings: int = 20_000
    ingest_nodes: int = 4
    pieces: int = 100
    finality_samples: int = 20
    audit_queries: int = 100

    @classmethod
    def quick(cls) -> Sizes:
        return cls(readings=5_000, ingest_nodes=2, pieces=10, finality_samples=5, audit_queries=20)


def machine(anvil_version: str, geth_version: str) -> dict[str, Any]:
    """``{"cpu", "cores", "ram_gib", "anvil", "geth"}``: CPU model (/proc/cpuinfo), logical cores,
    RAM in GiB (/proc/meminfo), and the engines' ``web3_clientVersion`` as read from the nodes."""
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():
        m = re.search(r"^model name\s*:\s*(.+)$", info.read_text(), re.M)
        cpu = m.group(1).strip() if m else cpu
    ram = 0.0
    mem = Path("/proc/meminfo")
    if mem.exists():
        m = re.search(r"^MemTotal:\s+(\d+) kB", mem.read_text(), re.M)
        ram = round(int(m.group(1)) / 2**20, 1) if m else 0.0
    return {"cpu": cpu, "cores": os.cpu_count() or 1, "ram_gib": ram, "anvil": anvil_version, "geth": geth_version}


def journal_gas(client: ChainClient, pattern: str) -> int:
    """Median gas of the journal's included writes whose label matches ``pattern``.

    Raises:
        LookupError: no such write (the run did not perform the operation).
    """
    rx = re.compile(pattern)
    with Session(client.journal) as s:
        rows = s.execute(select(JournalEntry.label, JournalEntry.gas_used).where(
            JournalEntry.chain_id == client.chain_id, JournalEntry.gas_used.is_not(None))).all()
    gas = [g for label, g in rows if rx.search(label)]
    if not gas:
        raise LookupError(f"no journalled write matches {pattern!r}")
    return int(statistics.median(gas))


def finality_times(client: ChainClient, sender: str, samples: int) -> list[float]:
    """Seconds from signing to final (K blocks deep) of ``samples`` zero-value self-transfers of
    ``sender``, one at a time."""
    out = []
    for i in range(samples):
        t = time.perf_counter()
        client.send([Call(sender, sender, b"", f"finality probe {i}")])
        client.wait_final()
        out.append(time.perf_counter() - t)
    return out


def measure_engine(system: System, probes: Probes, sizes: Sizes, *, funder_key: bytes | None,
                   progress: Callable[[str], Any] = print) -> dict[str, float]:
    """Every figure of one engine (module docstring), keyed as :data:`ROWS`."""
    c = system.client
    first_block, t0 = int(c.rpc("eth_blockNumber"), 16), time.perf_counter()
    out: dict[str, float] = {}
    progress(f"main job {sizes.start} – {sizes.end}")
    report = probes.main_job(system, sizes.start, sizes.end)
    anchors = len([1 for _ in _journal_labels(c, r"^anchor ")])
    out["anchor"] = report["anchoring_gas"] / anchors
    out["gas_per_reading"] = float(report["gas_per_reading"])
    for key, pattern in JOURNAL_ROWS.items():
        out[key] = journal_gas(c, pattern)
    progress(f"finality: {sizes.finality_samples} writes, one at a time (K = {c.final_after})")
    fin = finality_times(c, system.accounts["regulator"], sizes.finality_samples)
    out["finality_p50"], out["finality_p99"] = percentile(fin, 50), percentile(fin, 99)
    progress(f"audit queries through the API: {sizes.audit_queries}")
    lat = probes.audit(system, sizes.audit_queries)
    out["audit_p50"], out["audit_p99"] = 1e3 * percentile(lat, 50), 1e3 * percentile(lat, 99)
    progress(f"asset gas and settlement ({sizes.pieces} retirement pieces)")
    timings: dict[str, float] = {}
    g = measure_asset_gas(REPO_ROOT, rpc_url=c.rpc_urls if system.node is None else c.rpc_url,
                          funder_key=funder_key, pieces=sizes.pieces, timings=timings)
    for key, label in ASSET_ROWS.items():
        out[key] = g[label]
    out["trades_per_s"] = 100 / timings["settle_100_s"]
    wall = time.perf_counter() - t0
    last = int(c.rpc("eth_blockNumber"), 16)
    blocks = c.rpc_batch([("eth_getBlockByNumber", [hex(n), False]) for n in range(first_block + 1, last + 1)])
    out["blocks_per_s"] = (last - first_block) / wall
    out["tx_per_s"] = sum(len(b["result"]["transactions"]) for b in blocks) / wall
    progress(f"ingestion: {sizes.readings:,} readings over HTTP to {sizes.ingest_nodes} oracle node(s)")
    out["readings_per_s"] = probes.ingest(system, sizes.readings, sizes.ingest_nodes)
    return out


def _journal_labels(client: ChainClient, pattern: str) -> list[str]:
    rx = re.compile(pattern)
    with Session(client.journal) as s:
        labels = s.execute(select(JournalEntry.label).where(JournalEntry.chain_id == client.chain_id,
                                                            JournalEntry.gas_used.is_not(None))).scalars().all()
    return [label for label in labels if rx.search(label)]


def run_table(data_dir: Path, probes: Probes, sizes: Sizes, *, nodes: int = 4, period: int = 1,
              progress: Callable[[str], Any] = print) -> dict[str, Any]:
    """Measure both engines in fresh directories under ``data_dir`` (``embedded/``, ``network/``;
    removed first by the caller if wanted) and return the table JSON (:func:`table_json`).

    Raises:
        GethUnavailable: geth v1.13.15 is not installed and cannot be built.
        LookupError: a run lacked an operation (a bug).
    """
    figures: dict[str, dict[str, float]] = {}
    versions: dict[str, str] = {}
    for engine in ENGINES:
        d = data_dir / engine
        progress(f"[{engine}] starting the {'embedded Anvil node' if engine == 'embedded' else f'{nodes}-node Clique network'} in {d}")
        system = System(d, port=free_port(), log=progress) if engine == "embedded" else \
            System.on_network(d, nodes, period=period, log=progress)
        try:
            system.start()
            versions[engine] = str(system.client.rpc("web3_clientVersion"))
            funder = None if engine == "embedded" else system.funder_key
            figures[engine] = measure_engine(system, probes, sizes, funder_key=funder,
                                             progress=lambda m, e=engine: progress(f"[{e}] {m}"))
        finally:
            system.stop()
    return table_json(machine(versions["embedded"], versions["network"]), figures)


def table_json(machine_info: dict[str, Any], figures: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The table: ``{"machine", "rows": [{"metric", "unit", "embedded", "network"}]}``.

    Raises:
        ValueError: a figure is missing, not finite or not positive.
    """
    rows = []
    for key, metric, unit in ROWS:
        row: dict[str, Any] = {"metric": metric, "unit": unit}
        for engine in ENGINES:
            v = figures[engine].get(key)
            if v is None or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{engine} {metric}: not a positive finite number: {v!r}")
            row[engine] = round(float(v), 3) if unit in ("s", "ms", "readings/s", "trades/s", "blocks/s", "tx/s") or v % 1 else int(v)
        rows.append(row)
    return {"machine": machine_info, "rows": rows}


def write_png(table: dict[str, Any], path: Path) -> Path:
    """A horizontal bar chart, log scale, one pair of bars per metric (embedded vs network)."""
    rows = table["rows"]
    fig = Figure(figsize=(11, 0.42 * len(rows) + 1.6))
    ax = fig.subplots()
    ys = range(len(rows))
    h = 0.38
    ax.barh([y - h / 2 for y in ys], [r["embedded"] for r in rows], h, label=f"embedded ({table['machine']['anvil']})", color="#4C72B0")
    ax.barh([y + h / 2 for y in ys], [r["network"] for r in rows], h, label=f"network ({table['machine']['geth']})", color="#DD8452")
    ax.set_yticks(list(ys), [f"{r['metric']} [{r['unit']}]" for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("value (log scale; unit per row)")
    m = table["machine"]
    ax.set_title(f"CarbonLedger benchmark: embedded node vs Clique network\n{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def markdown(table: dict[str, Any]) -> str:
    """The table as GitHub markdown (for the README)."""
    lines = ["| metric | unit | embedded (Anvil) | network (geth Clique) |", "|---|---|---:|---:|"]
    lines += [f"| {r['metric']} | {r['unit']} | {r['embedded']:,} | {r['network']:,} |" for r in table["rows"]]
    return "\n".join(lines)
