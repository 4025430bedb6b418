"""Oracle nodes ingesting in their own processes (one per node), so that signature recovery and
SQL commits of the three nodes use every core; each process opens its node from the data
directory exactly as ``carbonledger oracle serve`` does (its own key, its own store)."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ledger.meter_data.workers import CheckWorkers
from oracles.runtime import open_oracle_node


def _serve(data_dir: str, name: str, rpc_url: str | list[str], conn: Connection) -> None:
    # This process is the node's own core already (one process per node, daemonic so it dies with
    # the main job); a daemonic process may not start the node's check workers, so it checks in place.
    _dep, node = open_oracle_node(Path(data_dir), name, rpc_url, workers=CheckWorkers(processes=0))
    conn.send("ready")
    while True:
        batch = conn.recv()
        if batch is None:
            break
        acks = node.ingest(batch)
        conn.send(Counter(a.status if a.status != "rejected" else f"rejected:{a.reason}" for a in acks))
    conn.close()


class NodeProcesses:
    """One process per oracle node; :meth:`ingest` sends a batch to all and returns their acks.

    ``rpc_url``: the chain's URL for every node, or one URL list per node (on a network each
    oracle node reads through its own RPC node first, failing over to the others)."""

    def __init__(self, data_dir: Path, names: Sequence[str], rpc_url: str | Sequence[list[str]]) -> None:
        ctx = mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        urls = [rpc_url] * len(names) if isinstance(rpc_url, str) else list(rpc_url)
        if len(urls) != len(names):
            raise ValueError(f"{len(names)} oracle nodes but {len(urls)} URL lists")
        for name, url in zip(names, urls):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_serve, args=(str(data_dir), name, url, child), daemon=True, name=f"oracle-node-{name}")
            p.start()
            self.conns.append(parent)
            self.procs.append(p)
        for c, p in zip(self.conns, self.procs):
            if not c.poll(120) or c.recv() != "ready":
                self.close()
                raise RuntimeError(f"oracle node process {p.name} did not start")

    def send(self, batch: list[Any]) -> None:
        """Hand ``batch`` to every node process (returns at once; :meth:`collect` waits)."""
        for c in self.conns:
            c.send(batch)

    def collect(self) -> Counter[str]:
        """Wait for every node's answer to the last :meth:`send`; total acknowledgement counts."""
        total: Counter[str] = Counter()
        for c, p in zip(self.conns, self.procs):
            if not c.poll(600):
                raise RuntimeError(f"oracle node process {p.name} did not answer")
            total.update(c.recv())
        return total

    def close(self) -> None:
        """Stop the processes (after their last commit)."""
        for c in self.conns:
            try:
                c.send(None)
            except (BrokenPipeError, OSError):
                pass
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
