"""Benchmark: one oracle node ingesting pre-signed real UCI readings into its SQLite store.

Signing is done beforehand (as the devices would) and excluded from the figure. The figure
includes what the node does per reading: range checks, EIP-712 digest, signature recovery
(coincurve), sequence/interval checks, Merkle leaf hashing, and the committed SQLite (WAL,
synchronous=FULL) transaction per batch — i.e. ``OracleNode.ingest`` as ``POST /v1/readings``
calls it, without HTTP/JSON parsing. Run: ``carbonledger bench --readings 100000``.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ledger.crypto import Eip712Domain, Signer, new_private_key
from ledger.db import make_engine, sqlite_url
from ledger.identifiers import device_id
from oracles.device import DeviceSigner
from oracles.node import DeviceInfo, OracleNode
from oracles.uci import load_uci

BATCH = 5_000


class StaticDevices:
    """A fixed device directory (the benchmark measures the node, not the chain)."""

    def __init__(self, info: DeviceInfo) -> None:
        self.info = info

    def get(self, device: bytes) -> DeviceInfo | None:
        return self.info if device == self.info.device else None


def main(n: int, start: date, console: Console | None = None) -> dict[str, Any]:
    """Ingest ``n`` real readings from ``start`` on; print and return the rates."""
    console = console or Console()
    days = n // 1_400 + 2
    series = load_uci(start=start, end=start + timedelta(days=days))
    minutes = series.readings[:n]
    dev = device_id("91110108MA01CL7K9H", "bench")
    domain = Eip712Domain("CarbonLedger MeterDataAnchor", "1", 31337, "0x" + "11" * 20)
    key = new_private_key()
    signer = DeviceSigner(dev, key, domain.separator)
    t = time.perf_counter()
    signed = list(signer.sign_minutes(minutes))
    sign_s = time.perf_counter() - t
    info = DeviceInfo(dev, bytes(32), bytes.fromhex(signer.address[2:]), 1, 2**63, True)
    with tempfile.TemporaryDirectory() as tmp:
        node = OracleNode("bench", Signer(new_private_key()), make_engine(sqlite_url(Path(tmp) / "node.sqlite")),
                          domain.separator, StaticDevices(info), lambda: bytes(32))
        t = time.perf_counter()
        accepted = 0
        for lo in range(0, len(signed), BATCH):
            accepted += sum(a.status == "accepted" for a in node.ingest(signed[lo:lo + BATCH]))
        ingest_s = time.perf_counter() - t
    tab = Table(title=f"oracle node ingestion, {len(signed):,} real UCI readings from {start} (batches of {BATCH:,})")
    tab.add_column("phase")
    tab.add_column("seconds", justify="right")
    tab.add_column("readings/s", justify="right")
    tab.add_row("device signing (excluded)", f"{sign_s:.2f}", f"{len(signed) / sign_s:,.0f}")
    tab.add_row("node ingest: verify + store + commit", f"{ingest_s:.2f}", f"{len(signed) / ingest_s:,.0f}")
    console.print(tab)
    console.print(f"accepted {accepted:,} of {len(signed):,}")
    return {"readings": len(signed), "sign_per_s": len(signed) / sign_s, "ingest_per_s": len(signed) / ingest_s, "accepted": accepted}


if __name__ == "__main__":
    main(100_000, date(2007, 1, 1))
