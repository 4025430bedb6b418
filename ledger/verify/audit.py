"""``audit verify``: re-check the SQL caches against the chain (DESIGN.md §8).

Two checks, each returning every :class:`Discrepancy` found (an empty list: none):

* :func:`verify_events` re-reads every log of the deployment over the indexed block range and
  compares it with ``chain_events`` (:mod:`ledger.records.indexer`): rows missing, rows the chain does
  not have, rows altered in any column.
* :func:`verify_oracle_store` rebuilds, for every batch anchored on-chain for a device present
  in an oracle store, the count, the energy (Wh) and the Merkle root from the store's
  ``readings`` rows, and compares them with the chain; each reading's stored leaf is checked
  against its fields and, optionally, its device signature against the device's key.

``ledger/`` never imports ``oracles/`` (DESIGN.md §2): the ``readings`` table is reflected with
SQLAlchemy Core (columns of ``oracles.store.StoredReading``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from math import floor
from typing import Any

from sqlalchemy import Engine, MetaData, Table, inspect, select

from ledger.chain.finality import check_final_after, final_head
from ledger.contracts.anchored import AnchoredBatch, device_batches
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import InvalidSignature, address_bytes, recover_address_bytes
from ledger.meter_data.energy import energy_wh
from ledger.meter_data.merkle import StandardMerkleTree
from ledger.meter_data.reading import Reading, reading_digest, reading_leaf
from ledger.records.indexer import (
    EVENT_COLUMNS,
    ChainChangedError,
    ChainEvent,
    IndexerCheckpoint,
    LogReader,
    checkpoint_id,
    rows_by_key,
)

#: Columns of the oracle store's ``readings`` table that verification reads (oracles/store.py).
READING_COLUMNS = ("device", "sequence", "start", "end", "quantity_code", "value", "scale", "flags", "signature", "leaf")
#: Batches whose readings are read and checked per store query.
_BATCH_CHUNK = 64


@dataclass(frozen=True)
class Discrepancy:
    """One difference between a SQL cache and the chain.

    Attributes:
        kind: what differs — ``missing_event``, ``extra_event``, ``altered_event``,
            ``stale_checkpoint`` (events); ``batch_count``, ``batch_energy``, ``batch_root``,
            ``reading_leaf``, ``reading_signature``, ``reading_crosses_batch`` (oracle store).
        where: the place: ``tx 0x… log N (block B)``, ``checkpoint …``, ``batch 17 (device 0x…)``.
        detail: what was expected and what was found.
    """

    kind: str
    where: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready dict."""
        return asdict(self)


class VerifyError(RuntimeError):
    """A verification could not run (the store is not an oracle store, the chain failed...)."""


def _short(v: Any, n: int = 120) -> str:
    s = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    return s if len(s) <= n else s[: n - 1] + "…"


# --------------------------------------------------------------------------------------------
# chain_events against the chain
# --------------------------------------------------------------------------------------------


def verify_events(deployment: Deployment, engine: Engine, step: int = 2000,
                  progress: Callable[[int, int], None] | None = None, final_after: int | None = None) -> list[Discrepancy]:
    """Compare ``chain_events`` with every log the chain holds in final blocks over the indexed range.

    The indexed range runs from the manifest's ``deployment_block`` to the checkpoint (or to the
    newest row's block, if rows lie above it), cut at the newest final block (``head - K + 1``,
    K = ``final_after``, default the client's :attr:`~ledger.chain.client.ChainClient.final_after`):
    rows in blocks that exist but are not final yet are not judged (a reorganisation may still
    replace them; the indexer undoes them then); rows above the head are ``extra_event``. Logs are re-read with ``eth_getLogs`` (``step``
    blocks per request) and decoded with the manifest's ABIs exactly as the indexer does; rows
    are matched on (tx_hash, log_index). An unindexed database (no checkpoint, no rows) has no
    discrepancy.

    Returns:
        one :class:`Discrepancy` per missing row (``missing_event``), per row the chain does not
        have (``extra_event``), per row differing in any column (``altered_event``, naming the
        columns), and ``stale_checkpoint`` if the checkpoint's block hash is no longer the chain's
        (the node restarted since the last ``audit index``).

    Raises:
        ChainError: the node failed a request. ValueError: ``step`` < 1.
        VerifyError: the chain changed (node restart) while it was being read.
    """
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    key = checkpoint_id(deployment.manifest)
    out: list[Discrepancy] = []
    if not inspect(engine).has_table(ChainEvent.__tablename__):
        return out  # never indexed: nothing cached, nothing to contradict the chain
    with engine.connect() as conn:
        cp = conn.execute(select(IndexerCheckpoint).where(IndexerCheckpoint.id == key)).first()
        others = conn.scalars(select(IndexerCheckpoint.id).where(IndexerCheckpoint.id != key)).all()
        top = conn.scalar(select(ChainEvent.block_number).order_by(ChainEvent.block_number.desc()).limit(1))
    for other in others:
        out.append(Discrepancy("stale_checkpoint", f"checkpoint {other}", f"a checkpoint of another deployment ({key} expected)"))
    first = int(deployment.manifest["deployment_block"])
    hi = max(cp.last_block if cp else first - 1, top if top is not None else first - 1)
    if hi < first and top is None:
        return out
    reader = LogReader(deployment)
    head = reader.head()
    k = deployment.client.final_after if final_after is None else check_final_after(final_after)
    newest_final = final_head(head, k)
    if cp is not None:
        chain_hash = reader.block_hashes([cp.last_block])[cp.last_block] if cp.last_block <= head else None
        if chain_hash != cp.last_block_hash:
            out.append(Discrepancy("stale_checkpoint", f"checkpoint {key} at block {cp.last_block}",
                                   f"recorded hash {cp.last_block_hash}, chain has {chain_hash or 'no such block'} "
                                   "(the chain changed since indexing; run `carbonledger audit index`)"))
    scan_hi = min(hi, newest_final)
    matched: set[int] = set()
    candidates: dict[int, Any] = {}
    total = max(scan_hi - first + 1, 0)
    for lo in range(first, scan_hi + 1, step):
        r_hi = min(lo + step - 1, scan_hi)
        try:
            fetched, _ = reader.fetch_range(lo, r_hi)
        except ChainChangedError as exc:
            raise VerifyError(f"the chain changed during verification ({exc}); run it again") from exc
        chain = {(r["tx_hash"], r["log_index"]): r for r in fetched}
        with engine.connect() as conn:
            rows = rows_by_key(conn, chain.keys(), lo, r_hi)
        found: set[tuple[str, int]] = set()
        for row in rows:
            k = (row.tx_hash, row.log_index)
            want = chain.get(k)
            if want is None:
                if lo <= row.block_number <= r_hi:
                    candidates[row.id] = row
                continue
            matched.add(row.id)
            found.add(k)
            diffs = _diff(row, want)
            if diffs:
                out.append(Discrepancy("altered_event", _where(want), f"row id {row.id}: " + "; ".join(diffs)))
        for k, want in chain.items():
            if k not in found:
                out.append(Discrepancy("missing_event", _where(want), f"{want['contract']}.{want['event']} {_short(want['args'])}"))
        if progress is not None:
            progress(r_hi - first + 1, total)
    with engine.connect() as conn:  # rows outside the scanned blocks cannot be on the chain there
        for row in conn.execute(select(ChainEvent).where((ChainEvent.block_number < first) | (
                (ChainEvent.block_number > scan_hi) & ((ChainEvent.block_number <= newest_final) | (ChainEvent.block_number > head))))):
            candidates[row.id] = row
    for rid, row in sorted(candidates.items()):
        if rid not in matched:
            out.append(Discrepancy("extra_event", _where(row._mapping),
                                   f"row id {rid}: {row.contract}.{row.event} {_short(row.args)} is not on the chain"))
    return out


def _where(r: Any) -> str:
    return f"tx {r['tx_hash']} log {r['log_index']} (block {r['block_number']})"


def _diff(row: Any, want: dict[str, Any]) -> list[str]:
    """Differences of a table row from the chain's version, column by column (``args`` by key)."""
    diffs = []
    for col in EVENT_COLUMNS:
        have = getattr(row, col)
        if col != "args":
            if have != want[col]:
                diffs.append(f"{col}: table {_short(str(have), 80)} ≠ chain {_short(str(want[col]), 80)}")
            continue
        chain_args = json.loads(want["args"])
        try:
            table_args = json.loads(have)
        except (TypeError, ValueError):
            diffs.append(f"args: table holds no JSON ({_short(str(have), 80)})")
            continue
        if table_args == chain_args:
            continue
        if isinstance(table_args, dict):
            for k in sorted(set(table_args) | set(chain_args)):
                if table_args.get(k, "(absent)") != chain_args.get(k, "(absent)"):
                    diffs.append(f"args.{k}: table {_short(table_args.get(k, '(absent)'), 80)} "
                                 f"≠ chain {_short(chain_args.get(k, '(absent)'), 80)}")
        else:
            diffs.append(f"args: table {_short(table_args, 80)} ≠ chain {_short(chain_args, 80)}")
    return diffs


# --------------------------------------------------------------------------------------------
# Oracle store against the anchored batches
# --------------------------------------------------------------------------------------------


def anchored_batches(deployment: Deployment, device: bytes) -> list[AnchoredBatch]:
    """The device's anchored periods in time order, each as its current batch (the latest of its
    supersede chain: a correction replaces what the store should hold; superseded batches stay
    on record but are not rebuilt).

    Raises:
        ChainError: the node failed a call.
    """
    return [d.batch for d in device_batches(deployment.anchor, device)]


def _readings_table(engine: Engine) -> Table:
    if not inspect(engine).has_table("readings"):
        raise VerifyError(f"{engine.url!r} has no `readings` table: not an oracle store")
    t = Table("readings", MetaData(), autoload_with=engine)
    missing = [c for c in READING_COLUMNS if c not in t.c]
    if missing:
        raise VerifyError(f"the `readings` table of {engine.url!r} lacks columns {missing}")
    return t


def _watt_seconds_wh(rows: Sequence[Any]) -> int:
    """Batch energy in Wh, ⌊Σ(W × s)/3600 + ½⌋ (DESIGN.md §5), exact for any scale."""
    if all(r.scale >= 0 for r in rows):
        return energy_wh(sum((r.end - r.start) * r.value * 10**r.scale for r in rows))
    s = sum(Fraction((r.end - r.start) * r.value) * Fraction(10) ** r.scale for r in rows)
    return floor(s / 3600 + Fraction(1, 2))


def verify_oracle_store(deployment: Deployment, store: Engine, *, signatures: bool = False,
                        progress: Callable[[int, int], None] | None = None) -> list[Discrepancy]:
    """Rebuild every anchored batch of the store's devices from its readings and compare.

    For each device in the store's ``readings`` and each of its anchored periods (current batch,
    see :func:`anchored_batches`), the readings starting in ``[start, end)`` (as oracle nodes
    select them) give: count, Wh = ⌊Σ(W × s)/3600 + ½⌋ (:func:`ledger.meter_data.energy.energy_wh`), and
    the StandardMerkleTree root of leaves recomputed from each row's fields
    (:func:`ledger.meter_data.reading.reading_leaf`) — so a changed value is caught even if its stored leaf
    was changed with it.

    Args:
        store: engine of one oracle node's store.
        signatures: also recover each reading's device signature (EIP-712 digest in the
            deployment's domain) and compare it with the device's signing address in
            DeviceRegistry (slower: one secp256k1 recovery per reading).
        progress: ``progress(batches_done, batches_total)``.

    Returns:
        discrepancies, each naming the batch id: ``batch_count``, ``batch_energy``,
        ``batch_root``; per reading ``reading_leaf`` (stored leaf ≠ leaf of the fields),
        ``reading_crosses_batch`` (ends after the batch), ``reading_signature``.

    Raises:
        VerifyError: the engine is not an oracle store. ChainError: the node failed.
    """
    t = _readings_table(store)
    with store.connect() as conn:
        devices = [bytes(d) for d in conn.scalars(select(t.c.device).distinct())]
    plan = [(d, b) for d in sorted(devices) for b in anchored_batches(deployment, d)]
    signers: dict[bytes, bytes] = {}
    if signatures and devices:
        for d, info in zip(devices, deployment.client.call_many([deployment.devices.functions.device(d) for d in devices])):
            signers[d] = address_bytes(info.signer)
    separator = deployment.domain.separator
    out: list[Discrepancy] = []
    cols = [t.c[c] for c in READING_COLUMNS]
    for i in range(0, len(plan), _BATCH_CHUNK):
        chunk = plan[i:i + _BATCH_CHUNK]
        with store.connect() as conn:
            for device, b in chunk:
                rows = conn.execute(select(*cols).where(t.c.device == device, t.c.start >= b.start, t.c.start < b.end)
                                    .order_by(t.c.sequence)).all()
                out.extend(_check_batch(b, rows, signers.get(device) if signatures else None, separator))
        if progress is not None:
            progress(min(i + _BATCH_CHUNK, len(plan)), len(plan))
    return out


def _check_batch(b: AnchoredBatch, rows: Sequence[Any], signer: bytes | None, separator: bytes) -> list[Discrepancy]:
    where = f"batch {b.batch_id} (device 0x{b.device.hex()}, [{b.start}, {b.end}))"
    if not rows:
        return [Discrepancy("batch_count", where, f"store holds no reading of this batch, chain says {b.count}")]
    out: list[Discrepancy] = []
    leaves = []
    for r in rows:
        reading = Reading(bytes(r.device), int(r.sequence), int(r.start), int(r.end), int(r.quantity_code),
                          int(r.value), int(r.scale), int(r.flags))
        try:
            leaf = reading_leaf(reading, bytes(r.signature))
        except ValueError as exc:
            out.append(Discrepancy("reading_leaf", where, f"reading {r.sequence}: fields out of range: {exc}"))
            leaf = bytes(32)
        leaves.append(leaf)
        if bytes(r.leaf) != leaf:
            out.append(Discrepancy("reading_leaf", where, f"reading {r.sequence}: stored leaf 0x{bytes(r.leaf).hex()} "
                                                          f"≠ leaf of its fields 0x{leaf.hex()} (value {r.value})"))
        if r.end > b.end:
            out.append(Discrepancy("reading_crosses_batch", where, f"reading {r.sequence} ends at {r.end}, after the batch"))
        if signer is not None:
            try:
                got = recover_address_bytes(reading_digest(separator, reading), bytes(r.signature))
            except (InvalidSignature, ValueError) as exc:
                out.append(Discrepancy("reading_signature", where, f"reading {r.sequence}: {exc}"))
            else:
                if got != signer:
                    out.append(Discrepancy("reading_signature", where, f"reading {r.sequence}: signed by 0x{got.hex()}, "
                                                                       f"device key is 0x{signer.hex()}"))
    if len(rows) != b.count:
        out.append(Discrepancy("batch_count", where, f"store holds {len(rows)} readings, chain says {b.count}"))
    try:
        wh = _watt_seconds_wh(rows)
    except (ValueError, ZeroDivisionError) as exc:
        out.append(Discrepancy("batch_energy", where, f"cannot compute energy: {exc}"))
    else:
        if wh != b.total_wh:
            out.append(Discrepancy("batch_energy", where, f"readings give {wh} Wh, chain says {b.total_wh} Wh"))
    root = StandardMerkleTree.from_leaf_hashes(leaves).root
    if root != b.root:
        out.append(Discrepancy("batch_root", where, f"readings give root 0x{root.hex()}, chain has 0x{b.root.hex()}"))
    return out


__all__ = ["AnchoredBatch", "Discrepancy", "VerifyError", "anchored_batches", "verify_events", "verify_oracle_store"]
