"""The report's ``chain`` section, read from the nodes themselves (issue 11): engine, version and
node count from ``web3_clientVersion`` and ``clique_getSigners``, block period, blocks and
transactions per second from the blocks' own timestamps, time to finality from the journal's
signing times and the timestamps of the blocks that made each write final. Never constants.

``finality_s`` of a write: ``timestamp(block + K - 1) - signed_at`` (the block that made it
``K`` deep, :mod:`ledger.chain.finality`), clamped at 0 (block timestamps are whole seconds).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.chain.client import ChainClient
from ledger.chain.journal import FINAL, JournalEntry


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0 < q ≤ 100) of ``values``.

    Raises:
        ValueError: no values, or ``q`` outside (0, 100].
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


def _blocks(client: ChainClient, numbers: Sequence[int]) -> dict[int, dict[str, Any]]:
    out = {}
    for n, r in zip(numbers, client.rpc_batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])):
        if r.get("result"):
            out[n] = r["result"]
    return out


def chain_section(client: ChainClient, first_block: int, signed_since: datetime) -> dict[str, Any]:
    """The ``chain`` section of a run that started after block ``first_block`` and signed its
    first transaction at or after ``signed_since`` (UTC).

    Returns:
        ``{"engine", "version", "nodes", "block_period_s", "final_after_blocks", "blocks",
        "tx_per_s", "finality_s": {"p50", "p99"}}`` — ``block_period_s``: median gap between
        consecutive blocks of the run (on Clique the configured period; the embedded Anvil mines
        a block when a write arrives, so there it is the median gap between writes); ``blocks``: blocks
        sealed during the run; ``tx_per_s``: transactions in those blocks over their time span
        (None if it spans under a second); ``finality_s``: None where no write of the run is final.
    """
    eng = client.engine()
    k = client.final_after
    head = int(client.rpc("eth_blockNumber"), 16)
    numbers = list(range(first_block, head + 1))
    blocks = _blocks(client, numbers)
    stamps = [int(blocks[n]["timestamp"], 16) for n in numbers if n in blocks]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    run = [blocks[n] for n in numbers[1:] if n in blocks]
    txs = sum(len(b["transactions"]) for b in run)
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0
    since = signed_since.isoformat()
    with Session(client.journal) as s:
        rows = s.execute(select(JournalEntry.created_at, JournalEntry.block_number).where(
            JournalEntry.chain_id == client.chain_id, JournalEntry.status == FINAL,
            JournalEntry.created_at >= since, JournalEntry.block_number.is_not(None))).all()
    final_blocks = sorted({bn + k - 1 for _, bn in rows if bn is not None} - set(blocks))
    blocks.update(_blocks(client, final_blocks))
    finality = [max(int(blocks[bn + k - 1]["timestamp"], 16) - datetime.fromisoformat(at).timestamp(), 0.0)
                for at, bn in rows if bn + k - 1 in blocks]
    return {
        "engine": eng.name,
        "version": eng.version,
        "nodes": eng.nodes,
        "block_period_s": statistics.median(gaps) if gaps else None,
        "final_after_blocks": k,
        "blocks": len(run),
        "tx_per_s": round(txs / span, 2) if span >= 1 else None,
        "finality_s": {"p50": round(percentile(finality, 50), 3), "p99": round(percentile(finality, 99), 3)} if finality else None,
    }
