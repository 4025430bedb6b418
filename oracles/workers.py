"""Oracle nodes ingesting in their own processes (one per node), so that signature recovery and
SQL commits of the nodes use every core; each process opens its node from the data
directory exactly as ``carbonledger oracle serve`` does (its own key, its own store).

A batch crosses to the node processes once as packed bytes (:func:`pack_rows`: one fixed-size
record per reading, encoded once for all nodes, decoded by ``struct`` in C) rather than as
pickled reading objects per node (issue 14: that pickling cost the sending process more than
the nodes' checks)."""

from __future__ import annotations

import multiprocessing as mp
import struct
from collections import Counter
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ledger.meter_data.workers import CheckWorkers
from oracles.checks import ReadingRow
from oracles.node import SignedReading
from oracles.runtime import open_oracle_node

#: One reading as the node processes receive it: device, sequence, start, end, quantityCode,
#: value (int64), scale (int8), flags, signature (65 bytes) — the Solidity types' ranges.
ROW = struct.Struct("<32sQQQHqbI65s")


def pack_rows(batch: Sequence[SignedReading]) -> bytes:
    """The readings of ``batch`` as :data:`ROW` records, concatenated.

    Raises:
        struct.error: a field outside its Solidity type (the device signs only valid readings).
    """
    pack = ROW.pack
    return b"".join(pack(r.device, r.sequence, r.start, r.end, r.quantity_code, r.value, r.scale, r.flags, sr.signature)
                    for sr in batch for r in (sr.reading,))


def unpack_rows(blob: bytes) -> list[ReadingRow]:
    """The :data:`oracles.checks.ReadingRow` tuples of :func:`pack_rows`' bytes."""
    return list(ROW.iter_unpack(blob))


def _serve(data_dir: str, name: str, rpc_url: str | list[str], conn: Connection) -> None:
    # This process is the node's own core already (one process per node, daemonic so it dies with
    # the main job); a daemonic process may not start the node's check workers, so it checks in place.
    _dep, node = open_oracle_node(Path(data_dir), name, rpc_url, workers=CheckWorkers(processes=0))
    conn.send("ready")
    while True:
        blob = conn.recv_bytes()
        if not blob:
            break
        acks = node.ingest_rows(unpack_rows(blob))
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

    def send(self, batch: Sequence[SignedReading]) -> None:
        """Hand ``batch`` (non-empty) to every node process, encoded once (:func:`pack_rows`);
        returns at once, :meth:`collect` waits."""
        if not batch:
            raise ValueError("an empty batch would stop the node processes")
        blob = pack_rows(batch)
        for c in self.conns:
            c.send_bytes(blob)

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
                c.send_bytes(b"")
            except (BrokenPipeError, OSError):
                pass
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
