"""Event indexer: every event of a deployment's contracts, from its deployment block, into SQL.

DESIGN.md §8: the indexer "follows chain events from the deployment block, idempotent, resumes
from its checkpoint, survives node restarts; the SQL tables are a cache of the chain".

* One ``eth_getLogs`` per block range over all the deployment's contract addresses (topics
  unfiltered); each log is decoded with its contract's ABI (topic0 → event ABI).
* The events of a range and the checkpoint that covers them are written in ONE SQL
  transaction, so a crash between ranges resumes from the last committed range; re-inserting
  an event already stored (same ``tx_hash``, ``log_index``) is skipped.
* Node restarts: an Anvil node restarted from a snapshot and re-fed from the chain client's
  journal holds the same transactions in blocks whose hashes (and numbers, and log indexes)
  differ (DESIGN.md §3). Each sync first checks that the block hash recorded at the
  checkpoint is still the chain's; if not, or if the head is now below the checkpoint, it walks
  back to the newest indexed block whose hash still matches, deletes the events above it,
  resets the checkpoint there and re-indexes. Because every block commits to its parent's hash,
  a matching block proves that everything at or below it is unchanged.

Only standard JSON-RPC is used (``eth_blockNumber``, ``eth_getBlockByNumber``, ``eth_getLogs``),
so it runs against Anvil, Besu, GoQuorum or FISCO BCOS's web3 RPC alike. One indexer database
serves one deployment (the checkpoint table refuses a second one).

Tables (``IndexerBase``; the Alembic baseline is generated from these models — keep them stable):

* ``indexer_checkpoint``: ``id`` = ``"<chain id>:<first contract address, lower-case>"``,
  ``last_block``, ``last_block_hash``, ``updated_at`` (ISO 8601 UTC).
* ``chain_events``: ``id`` (autoincrement: cursor for pagination), ``block_number``,
  ``block_hash``, ``tx_hash``, ``log_index`` (index within the block, as JSON-RPC reports it),
  ``contract`` (manifest name), ``address`` (EIP-55), ``event`` (name), ``args`` (JSON text:
  bytes as 0x hex, addresses EIP-55, integers as JSON numbers unless |n| ≥ 2^53 — beyond
  JavaScript's ``Number.MAX_SAFE_INTEGER`` — then decimal strings; an indexed dynamic value
  (string, bytes, array, struct) is its topic, the keccak256 of the value, as 0x hex);
  UNIQUE(tx_hash, log_index); indexes (contract, event) and block_number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address
from sqlalchemy import (
    BigInteger,
    Engine,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    cast,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from ledger.chain.abi import abi_type, hashed_when_indexed, signature
from ledger.chain.client import ChainError
from ledger.contracts.deployment import CONTRACTS, Deployment
from ledger.crypto.primitives import keccak256
from ledger.store.migrate import upgrade

#: Integers at or beyond this magnitude are stored as decimal strings in ``args``: JavaScript's
#: ``Number.MAX_SAFE_INTEGER`` is 2^53 − 1 (ECMA-262 §21.1.2.6), so API clients in JS read the
#: rest exactly.
JS_SAFE_LIMIT = 2**53
#: Default blocks per ``eth_getLogs`` (the task's default; Besu's ``--rpc-max-logs-range``
#: default is 5000, so 2000 stays below it). A range the node refuses is halved and retried.
DEFAULT_STEP = 2000
#: Largest page :func:`events` returns.
MAX_PAGE = 1000
#: Event name stored for a log whose topic0 matches no event of its contract's ABI (kept raw).
UNKNOWN_EVENT = "UnknownEvent"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: How many times a sync restarts when the chain changes under it (a node restart mid-sync).
_SYNC_ATTEMPTS = 3
#: Indexed blocks compared per JSON-RPC batch while walking back after a node restart.
_WALK_PAGE = 256


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class IndexerBase(DeclarativeBase):
    """Declarative base of the indexer's store (its own metadata: own Alembic baseline)."""


_Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


class IndexerCheckpoint(IndexerBase):
    """How far a deployment's events are indexed: every block ≤ ``last_block`` is done."""

    __tablename__ = "indexer_checkpoint"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # "<chain id>:<first contract address>"
    last_block: Mapped[int] = mapped_column(BigInteger)
    last_block_hash: Mapped[str] = mapped_column(String(66))
    updated_at: Mapped[str] = mapped_column(String(32))  # ISO 8601 UTC


class ChainEvent(IndexerBase):
    """One decoded event log (a cache of the chain; ``audit verify`` re-checks every row)."""

    __tablename__ = "chain_events"
    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index", name="uq_chain_events_tx_log"),
        Index("ix_chain_events_contract_event", "contract", "event"),
        Index("ix_chain_events_block_number", "block_number"),
        # SQLite must never reuse the id of a deleted row (after a walk-back): cursors stay valid
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    contract: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(42))
    event: Mapped[str] = mapped_column(String(64))
    args: Mapped[str] = mapped_column(Text)


#: Columns of a ``chain_events`` row that come from the chain (all but ``id``).
EVENT_COLUMNS = ("block_number", "block_hash", "tx_hash", "log_index", "contract", "address", "event", "args")


# --------------------------------------------------------------------------------------------
# Errors and results
# --------------------------------------------------------------------------------------------


class IndexerError(RuntimeError):
    """The indexer cannot index this deployment into this database (message says why)."""


class ChainChangedError(IndexerError):
    """The chain changed while a block range was read (a node restart); a sync starts over,
    and raises this only when the chain changed under each of its attempts."""


class EventQueryError(ValueError):
    """A query of the indexed events names an unknown contract, event or argument, or a bad page."""


@dataclass(frozen=True)
class Checkpoint:
    """Indexed up to and including ``last_block`` (whose hash was ``last_block_hash``)."""

    id: str
    last_block: int
    last_block_hash: str
    updated_at: str


@dataclass(frozen=True)
class Rewind:
    """A walk-back after the chain changed: events above ``to_block`` were deleted.

    ``to_block`` is the newest indexed block whose hash still matched (None: none did, the
    index restarts at the deployment block); ``from_block`` the checkpoint before.
    """

    from_block: int
    to_block: int | None
    events_deleted: int


@dataclass(frozen=True)
class IndexedEvent:
    """One row of ``chain_events`` with ``args`` parsed (see module docstring for the encoding)."""

    id: int
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    contract: str
    address: str
    event: str
    args: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the row."""
        return {"id": self.id, "block_number": self.block_number, "block_hash": self.block_hash,
                "tx_hash": self.tx_hash, "log_index": self.log_index, "contract": self.contract,
                "address": self.address, "event": self.event, "args": self.args}


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _to_json(value: Any, item: dict[str, Any]) -> Any:
    """A decoded ABI value as JSON (module docstring): bytes → 0x hex, big ints → strings."""
    t = str(item["type"])
    if t.endswith("]"):
        inner = dict(item, type=t[: t.rindex("[")])
        return [_to_json(v, inner) for v in value]
    if t == "tuple":
        comps = item.get("components", [])
        if comps and all(c.get("name") for c in comps):
            return {c["name"]: _to_json(v, c) for c, v in zip(comps, value)}
        return [_to_json(v, c) for c, v in zip(comps, value)]
    if t == "address":
        return to_checksum_address(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return value if abs(value) < JS_SAFE_LIMIT else str(value)


@dataclass(frozen=True)
class EventSpec:
    """One event of one contract: how to decode its logs."""

    contract: str
    name: str
    inputs: tuple[dict[str, Any], ...]
    signature: str

    @property
    def topic0(self) -> str:
        """0x hex keccak256 of the canonical signature."""
        return "0x" + keccak256(self.signature.encode()).hex()

    def decode(self, topics: Sequence[str], data: str) -> dict[str, Any]:
        """Decode a log's topics (0x hex, topic0 first) and data into JSON-ready args.

        Raises:
            IndexerError: the log does not fit the event's ABI.
        """
        indexed = [i for i in self.inputs if i.get("indexed")]
        plain = [i for i in self.inputs if not i.get("indexed")]
        if len(topics) != len(indexed) + 1:
            raise IndexerError(f"{self.contract}.{self.name}: log has {len(topics) - 1} indexed topics, "
                               f"the ABI {len(indexed)}")
        out: dict[str, Any] = {}
        try:
            for item, topic in zip(indexed, topics[1:]):
                raw = bytes.fromhex(topic[2:])
                if hashed_when_indexed(item):
                    out[item["name"]] = "0x" + raw.hex()
                else:
                    out[item["name"]] = _to_json(abi_decode([abi_type(item)], raw)[0], item)
            values = abi_decode([abi_type(i) for i in plain], bytes.fromhex(data[2:])) if plain else ()
        except Exception as exc:  # noqa: BLE001 - eth_abi raises several types; name the event
            raise IndexerError(f"{self.contract}.{self.name}: cannot decode log: {exc}") from exc
        for item, v in zip(plain, values):
            out[item["name"]] = _to_json(v, item)
        return {i["name"]: out[i["name"]] for i in self.inputs}  # in ABI order


class EventCatalogue:
    """Events of a deployment's contracts by (address, topic0), from the manifest's ABIs.

    Args:
        manifest: a deployment manifest (``contracts``: name → {address, abi}).

    Raises:
        IndexerError: an event ABI lacks argument names (they key ``args``), or is anonymous.
    """

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.names: dict[str, str] = {}              # address lower → contract name
        self.addresses: dict[str, str] = {}          # contract name → EIP-55 address
        self.by_topic: dict[tuple[str, str], EventSpec] = {}
        self.by_name: dict[str, dict[str, EventSpec]] = {}
        for name, info in manifest["contracts"].items():
            addr = to_checksum_address(info["address"])
            self.names[addr.lower()] = name
            self.addresses[name] = addr
            specs: dict[str, EventSpec] = {}
            for item in info["abi"]:
                if item.get("type") != "event":
                    continue
                if item.get("anonymous"):
                    raise IndexerError(f"{name}.{item['name']} is anonymous: its logs cannot be told apart")
                if any(not i.get("name") for i in item["inputs"]):
                    raise IndexerError(f"{name}.{item['name']} has unnamed arguments")
                sig = signature(item)
                spec = EventSpec(name, item["name"], tuple(item["inputs"]), sig)
                specs[spec.name] = spec
                self.by_topic[(addr.lower(), spec.topic0)] = spec
            self.by_name[name] = specs

    def row(self, log: dict[str, Any]) -> dict[str, Any]:
        """The ``chain_events`` values of one JSON-RPC log object (all but ``id``).

        A log whose topic0 no event of its contract has is kept raw under
        :data:`UNKNOWN_EVENT` (``args`` = ``{"topics": [...], "data": "0x…"}``): nothing is dropped.

        Raises:
            IndexerError: the log comes from an address outside the deployment or does not decode.
        """
        addr = str(log["address"]).lower()
        contract = self.names.get(addr)
        if contract is None:
            raise IndexerError(f"log from {log['address']} is not from this deployment")
        topics = [str(t).lower() for t in log.get("topics", [])]
        spec = self.by_topic.get((addr, topics[0])) if topics else None
        if spec is None:
            event, args = UNKNOWN_EVENT, {"topics": topics, "data": str(log.get("data", "0x")).lower()}
        else:
            event, args = spec.name, spec.decode(topics, str(log.get("data", "0x")))
        return {
            "block_number": int(log["blockNumber"], 16),
            "block_hash": str(log["blockHash"]).lower(),
            "tx_hash": str(log["transactionHash"]).lower(),
            "log_index": int(log["logIndex"], 16),
            "contract": contract,
            "address": self.addresses[contract],
            "event": event,
            "args": json.dumps(args, separators=(",", ":"), ensure_ascii=False),
        }


# --------------------------------------------------------------------------------------------
# Indexer
# --------------------------------------------------------------------------------------------


def checkpoint_id(manifest: dict[str, Any]) -> str:
    """The deployment key: ``"<chain id>:<first contract's address, lower-case>"``."""
    first = next(iter(manifest["contracts"].values()))
    return f"{int(manifest['chain_id'])}:{str(first['address']).lower()}"


def read_checkpoint(engine: Engine, key: str) -> Checkpoint | None:
    """The checkpoint row ``key`` (see :func:`checkpoint_id`), or None (also before any table exists)."""
    if not inspect(engine).has_table(IndexerCheckpoint.__tablename__):
        return None
    with engine.connect() as conn:
        row = conn.execute(select(IndexerCheckpoint).where(IndexerCheckpoint.id == key)).first()
    return None if row is None else Checkpoint(row.id, row.last_block, row.last_block_hash, row.updated_at)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LogReader:
    """Reads and decodes a deployment's logs consistently (shared by the indexer and the audit).

    Args:
        deployment: the deployment (client and manifest).
    """

    def __init__(self, deployment: Deployment) -> None:
        self.client = deployment.client
        self.catalogue = EventCatalogue(deployment.manifest)
        self.addresses = list(self.catalogue.addresses.values())

    def head(self) -> int:
        """The chain's current block number."""
        return int(self.client.rpc("eth_blockNumber"), 16)

    def block_hashes(self, numbers: Sequence[int]) -> dict[int, str | None]:
        """Hashes (0x hex, lower-case) of blocks by number; None for a block the chain lacks.

        Raises:
            ChainError: the node failed a request.
        """
        resp = self.client.rpc_batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        out: dict[int, str | None] = {}
        for n, r in zip(numbers, resp):
            if "error" in r:
                raise ChainError(f"eth_getBlockByNumber({n}): {r['error']}")
            out[n] = str(r["result"]["hash"]).lower() if r.get("result") else None
        return out

    def fetch_range(self, lo: int, hi: int, parent: tuple[int, str] | None = None) -> tuple[list[dict[str, Any]], str]:
        """Decoded events of blocks ``[lo, hi]`` and the hash of block ``hi``, read consistently.

        The hash of ``hi`` is read before and after ``eth_getLogs``; equal hashes prove the logs
        came from that chain (each block commits to its parent). With ``parent`` = (number,
        hash) of an earlier block already indexed (the checkpoint), the chain must still hold it:
        the new range then extends what is stored. A range the node refuses (e.g. too many
        results) is split in halves.

        Returns:
            (``chain_events`` rows without ``id``, in (block_number, log_index) order;
            hash of block ``hi``).

        Raises:
            ChainChangedError: the chain changed meanwhile (or lacks block ``hi``).
            ChainError: the node failed. IndexerError: a log does not decode.
        """
        before = self.block_hashes([hi])[hi]
        if before is None:
            raise ChainChangedError(f"the chain has no block {hi} (head moved below it)")
        logs = self._get_logs(lo, hi)
        after = self.block_hashes([hi] if parent is None else [hi, parent[0]])
        if after[hi] != before:
            raise ChainChangedError(f"block {hi} changed from {before} to {after[hi]} while its range was read")
        if parent is not None and after[parent[0]] != parent[1]:
            raise ChainChangedError(f"block {parent[0]} (indexed as {parent[1]}) is now {after[parent[0]]}")
        rows = []
        for log in logs:
            if log.get("removed"):
                raise ChainChangedError(f"log {log.get('transactionHash')} was removed by a reorganisation")
            row = self.catalogue.row(log)
            if not lo <= row["block_number"] <= hi:
                raise IndexerError(f"node returned a log of block {row['block_number']} for [{lo}, {hi}]")
            if row["block_number"] == hi and row["block_hash"] != before:
                raise ChainChangedError(f"log of block {hi} has hash {row['block_hash']}, the block {before}")
            rows.append(row)
        rows.sort(key=lambda r: (r["block_number"], r["log_index"]))
        return rows, before

    def _get_logs(self, lo: int, hi: int) -> list[dict[str, Any]]:
        resp = self.client.rpc_batch([("eth_getLogs", [{"fromBlock": hex(lo), "toBlock": hex(hi),
                                                        "address": self.addresses}])])[0]
        if "error" in resp:
            if hi > lo:  # e.g. Besu's "query returned more than 10000 results": halve the range
                mid = (lo + hi) // 2
                return self._get_logs(lo, mid) + self._get_logs(mid + 1, hi)
            raise ChainError(f"eth_getLogs [{lo}, {hi}]: {resp['error']}")
        return list(resp["result"])


class Indexer:
    """Follows one deployment's events into SQL.

    Args:
        deployment: the deployment (its client reaches the chain; its manifest gives the
            contracts, ABIs and ``deployment_block``).
        engine: the indexer database (tables created if absent).
        confirmations: blocks below the head that are not indexed yet; None (the default):
            follow final blocks only, ``K - 1`` with K the client's finality depth
            (:attr:`ledger.chain.client.ChainClient.final_after`: 1 on the embedded node, so up to
            the head; ⌊N/2⌋ + 1 on a Clique network). 0 indexes up to the head whatever K is.
        step: blocks per ``eth_getLogs`` (≥ 1).

    Raises:
        ValueError: ``confirmations`` < 0 or ``step`` < 1.
        IndexerError: the database already indexes another deployment.
    """

    def __init__(self, deployment: Deployment, engine: Engine, confirmations: int | None = None,
                 step: int = DEFAULT_STEP) -> None:
        if confirmations is None:
            confirmations = deployment.client.final_after - 1
        if confirmations < 0:
            raise ValueError(f"confirmations must be >= 0, got {confirmations}")
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        self.dep, self.engine, self.confirmations, self.step = deployment, engine, confirmations, step
        self.reader = LogReader(deployment)
        self.catalogue = self.reader.catalogue
        self.key = checkpoint_id(deployment.manifest)
        self.deployment_block = int(deployment.manifest["deployment_block"])
        self.rewinds: list[Rewind] = []
        self._added = 0
        upgrade(engine, "indexer")
        with engine.connect() as conn:
            others = conn.scalars(select(IndexerCheckpoint.id).where(IndexerCheckpoint.id != self.key)).all()
        if others:
            raise IndexerError(f"this database indexes deployment {others[0]}, not {self.key}; "
                               "use one indexer database per deployment")

    # ------------------------------------------------------------------ state
    def checkpoint(self) -> Checkpoint | None:
        """The checkpoint of this deployment, or None before the first range is indexed."""
        with self.engine.connect() as conn:
            row = conn.execute(select(IndexerCheckpoint).where(IndexerCheckpoint.id == self.key)).first()
        return None if row is None else Checkpoint(row.id, row.last_block, row.last_block_hash, row.updated_at)

    # ------------------------------------------------------------------ sync
    def sync(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Index every event up to ``head - confirmations`` (by default the newest final block);
        returns the number of events added.

        Starts at checkpoint + 1 (or the manifest's ``deployment_block``), after checking that
        the chain still holds the checkpoint's block (else walks back, see :meth:`check_fork`);
        each range must extend the one before it.
        Each range of ``step`` blocks is written with its checkpoint in one SQL transaction.

        Args:
            progress: called as ``progress(blocks_done, blocks_total)`` after each range.

        Raises:
            ChainChangedError: the chain changed under every one of 3 attempts (a range read
                while the node restarts raises :class:`ChainChangedError` internally; the sync then
                starts over from the fork check).
            ChainError: the node failed or refused a request. IndexerError: a log does not decode.
        """
        self._added = 0
        for _ in range(_SYNC_ATTEMPTS):
            try:
                self._sync_once(progress)
                return self._added
            except ChainChangedError as moved:
                last = moved
        raise ChainChangedError(f"the chain changed during {_SYNC_ATTEMPTS} sync attempts: {last}")

    def _sync_once(self, progress: Callable[[int, int], None] | None) -> None:
        head = self.reader.head()
        self.check_fork(head)
        cp = self.checkpoint()
        start = cp.last_block + 1 if cp else self.deployment_block
        target = head - self.confirmations
        if target < start:
            return
        total = target - start + 1
        parent = (cp.last_block, cp.last_block_hash) if cp else None
        for lo in range(start, target + 1, self.step):
            hi = min(lo + self.step - 1, target)
            rows, hi_hash = self.reader.fetch_range(lo, hi, parent)
            self._added += self._store(rows, hi, hi_hash)
            parent = (hi, hi_hash)
            if progress is not None:
                progress(hi - start + 1, total)

    def _store(self, rows: list[dict[str, Any]], block: int, block_hash: str) -> int:
        """Insert ``rows`` not yet stored and move the checkpoint to ``block``: one transaction."""
        with self.engine.begin() as conn:
            fresh = _not_stored(conn, rows)
            if fresh:
                conn.execute(insert(ChainEvent), fresh)
            _set_checkpoint(conn, self.key, block, block_hash)
        return len(fresh)

    # ------------------------------------------------------------------ node restarts
    def check_fork(self, head: int | None = None) -> Rewind | None:
        """If the chain no longer holds the checkpoint's block, walk back and drop what changed.

        Finds the newest indexed block (at or below the checkpoint and the head) whose stored
        hash the chain still has, deletes the events above it and sets the checkpoint there (or
        removes it when no indexed block matches: re-index from the deployment block).

        Returns:
            the :class:`Rewind` done (also appended to ``self.rewinds``), or None if the
            checkpoint still matches.
        """
        cp = self.checkpoint()
        if cp is None:
            return None
        head = self.reader.head() if head is None else head
        if cp.last_block <= head and self.reader.block_hashes([cp.last_block])[cp.last_block] == cp.last_block_hash:
            return None
        keep = self._newest_matching_block(min(cp.last_block, head))
        with self.engine.begin() as conn:
            if keep is None:
                deleted = conn.execute(delete(ChainEvent)).rowcount
                conn.execute(delete(IndexerCheckpoint).where(IndexerCheckpoint.id == self.key))
            else:
                deleted = conn.execute(delete(ChainEvent).where(ChainEvent.block_number > keep[0])).rowcount
                _set_checkpoint(conn, self.key, keep[0], keep[1])
        rw = Rewind(cp.last_block, None if keep is None else keep[0], int(deleted or 0))
        self.rewinds.append(rw)
        return rw

    def _newest_matching_block(self, limit: int) -> tuple[int, str] | None:
        below = limit + 1
        while True:
            with self.engine.connect() as conn:
                pairs = conn.execute(select(ChainEvent.block_number, ChainEvent.block_hash).distinct()
                                     .where(ChainEvent.block_number < below)
                                     .order_by(ChainEvent.block_number.desc()).limit(_WALK_PAGE)).all()
            if not pairs:
                return None
            stored: dict[int, set[str]] = {}
            for n, h in pairs:
                stored.setdefault(n, set()).add(h)
            numbers = sorted(stored, reverse=True)
            if len(pairs) == _WALK_PAGE and len(numbers) > 1:
                numbers = numbers[:-1]  # the lowest block may be cut by the page; see it next page
            chain = self.reader.block_hashes(numbers)
            for n in numbers:
                if stored[n] == {chain[n]}:
                    return n, str(chain[n])
            below = numbers[-1]

    # ------------------------------------------------------------------ queries
    def events(self, contract: str | None = None, event: str | None = None, after_id: int | None = None,
               limit: int = 100, **arg_filters: Any) -> list[IndexedEvent]:
        """:func:`events` checked against this deployment's ABIs (contract, event and argument names).

        Raises:
            EventQueryError: unknown contract, event or argument name, or a bad page.
        """
        names = self.catalogue.by_name
        if contract is not None and contract not in names:
            raise EventQueryError(f"unknown contract {contract!r}; this deployment has {sorted(names)}")
        pool = [names[contract]] if contract is not None else list(names.values())
        if event is not None:
            specs = [s[event] for s in pool if event in s]
            if not specs:
                where = contract or "this deployment"
                raise EventQueryError(f"unknown event {event!r} of {where}; known: "
                                      f"{sorted({e for s in pool for e in s})}")
        else:
            specs = [sp for s in pool for sp in s.values()]
        known_args = {i["name"] for sp in specs for i in sp.inputs}
        for name in arg_filters:
            if name not in known_args:
                raise EventQueryError(f"unknown argument {name!r} for {contract or 'any contract'}."
                                      f"{event or '*'}; known: {sorted(known_args)}")
        return events(self.engine, contract, event, after_id, limit, **arg_filters)


# --------------------------------------------------------------------------------------------
# SQL helpers
# --------------------------------------------------------------------------------------------


def _not_stored(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose (tx_hash, log_index) is not in ``chain_events`` yet (idempotent inserts)."""
    if not rows:
        return []
    have: set[tuple[str, int]] = set()
    hashes = sorted({r["tx_hash"] for r in rows})
    for i in range(0, len(hashes), 500):
        have.update(conn.execute(select(ChainEvent.tx_hash, ChainEvent.log_index)
                                 .where(ChainEvent.tx_hash.in_(hashes[i:i + 500]))).tuples())
    seen: set[tuple[str, int]] = set()
    out = []
    for r in rows:
        k = (r["tx_hash"], r["log_index"])
        if k not in have and k not in seen:
            seen.add(k)
            out.append(r)
    return out


def _set_checkpoint(conn: Connection, key: str, block: int, block_hash: str) -> None:
    values = {"last_block": block, "last_block_hash": block_hash, "updated_at": _now()}
    if conn.execute(update(IndexerCheckpoint).where(IndexerCheckpoint.id == key).values(**values)).rowcount == 0:
        conn.execute(insert(IndexerCheckpoint).values(id=key, **values))


def _arg_expr(dialect: str, name: str) -> ColumnElement[Any]:
    """SQL text of ``args[name]`` (None when absent)."""
    if dialect == "sqlite":
        return cast(func.json_extract(ChainEvent.args, f'$."{name}"'), Text)
    if dialect == "postgresql":
        return cast(ChainEvent.args, JSONB)[name].astext
    raise EventQueryError(f"argument filters need SQLite or PostgreSQL, not {dialect}")


def _arg_condition(dialect: str, name: str, value: Any) -> ColumnElement[bool]:
    expr = _arg_expr(dialect, name)
    if isinstance(value, (bytes, bytearray)):
        value = "0x" + bytes(value).hex()
    if isinstance(value, bool):
        return expr == ("1" if value else "0") if dialect == "sqlite" else expr == ("true" if value else "false")
    if isinstance(value, int):
        return expr == str(value)
    if isinstance(value, str):
        if value[:2].lower() == "0x":  # hex (bytes, hashes, addresses in any case)
            return func.lower(expr) == value.lower()
        return expr == value
    raise EventQueryError(f"argument filter {name}={value!r}: use str, int, bool or bytes")


def _row(r: Any) -> IndexedEvent:
    return IndexedEvent(r.id, r.block_number, r.block_hash, r.tx_hash, r.log_index, r.contract, r.address,
                        r.event, json.loads(r.args))


def events(engine: Engine, contract: str | None = None, event: str | None = None, after_id: int | None = None,
           limit: int = 100, any_of: Sequence[tuple[str, Any]] = (), contracts: Sequence[str] = (),
           **arg_filters: Any) -> list[IndexedEvent]:
    """A page of indexed events, ordered by ``id`` (cursor pagination: pass the last ``id`` seen
    as ``after_id`` for the next page).

    Ids follow insertion order. After a walk-back (:meth:`Indexer.check_fork`) the re-indexed
    events get new rows; on SQLite (``INTEGER PRIMARY KEY`` without ``AUTOINCREMENT``) they may
    reuse the ids of the deleted rows, so a client that paged across a node restart re-reads
    from before the rewound block range.

    Args:
        contract: manifest contract name (e.g. ``"MeterDataAnchor"``); None: all.
        event: event name (e.g. ``"BatchAnchored"``); None: all.
        after_id: only rows with ``id > after_id``.
        limit: page size, 1..:data:`MAX_PAGE`.
        any_of: (argument, value) pairs of which at least one must match (OR), e.g. an account's
            history ``[("from", a), ("to", a), ("holder", a)]``; combined with the other filters by AND.
        contracts: several manifest contract names (OR); combined with ``contract`` by AND.
        arg_filters: equality on decoded arguments, e.g. ``device=b"…"`` or ``device="0x…"``
            (0x hex compared case-insensitively, so addresses match in any case), ``batchId=3``.

    Raises:
        EventQueryError: ``contract`` is neither a core contract (:data:`ledger.contracts.deployment.CONTRACTS`)
            nor one already indexed; ``event`` or an argument name is not an identifier; a bad
            ``limit``/``after_id``; an argument filter on a database other than SQLite/PostgreSQL.
            (:meth:`Indexer.events` also checks names against the deployment's ABIs.)
        sqlalchemy.exc.OperationalError / ProgrammingError: the database has no indexer tables
            (open it with ``make_engine(url, metadata=IndexerBase)`` or index it first).
    """
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise EventQueryError(f"limit must be 1..{MAX_PAGE}, got {limit!r}")
    if after_id is not None and (not isinstance(after_id, int) or after_id < 0):
        raise EventQueryError(f"after_id must be an integer >= 0, got {after_id!r}")
    with engine.connect() as conn:
        if contract is not None:
            known = set(CONTRACTS) | set(conn.scalars(select(ChainEvent.contract).distinct()))
            if contract not in known:
                raise EventQueryError(f"unknown contract {contract!r}; known: {sorted(known)}")
        if event is not None and not _IDENT.match(event):
            raise EventQueryError(f"event name {event!r} is not an identifier")
        q = select(ChainEvent)
        if contract is not None:
            q = q.where(ChainEvent.contract == contract)
        if contracts:
            q = q.where(ChainEvent.contract.in_(list(contracts)))
        if any_of:
            for name, _ in any_of:
                if not _IDENT.match(name):
                    raise EventQueryError(f"argument name {name!r} is not an identifier")
            q = q.where(or_(*[_arg_condition(engine.dialect.name, n, v) for n, v in any_of]))
        if event is not None:
            q = q.where(ChainEvent.event == event)
        if after_id is not None:
            q = q.where(ChainEvent.id > after_id)
        for name, value in arg_filters.items():
            if not _IDENT.match(name):
                raise EventQueryError(f"argument name {name!r} is not an identifier")
            q = q.where(_arg_condition(engine.dialect.name, name, value))
        return [_row(r) for r in conn.execute(q.order_by(ChainEvent.id).limit(limit)).all()]


def count_events(engine: Engine) -> int:
    """Number of rows in ``chain_events``."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(ChainEvent)) or 0)


def rows_by_key(conn: Connection, keys: Iterable[tuple[str, int]], lo: int, hi: int) -> list[Any]:
    """Rows of ``chain_events`` in blocks ``[lo, hi]`` or with one of ``keys`` (tx_hash, log_index)."""
    keys = list(keys)
    out: dict[int, Any] = {}
    for r in conn.execute(select(ChainEvent).where(and_(ChainEvent.block_number >= lo, ChainEvent.block_number <= hi))):
        out[r.id] = r
    for i in range(0, len(keys), 400):
        chunk = keys[i:i + 400]
        for r in conn.execute(select(ChainEvent).where(tuple_(ChainEvent.tx_hash, ChainEvent.log_index).in_(chunk))):
            out[r.id] = r
    return list(out.values())


__all__ = [
    "ChainChangedError", "ChainEvent", "Checkpoint", "DEFAULT_STEP", "EVENT_COLUMNS", "EventCatalogue",
    "EventQueryError", "EventSpec", "IndexedEvent", "Indexer", "IndexerBase", "IndexerCheckpoint",
    "IndexerError", "LogReader", "Rewind", "read_checkpoint", "UNKNOWN_EVENT", "checkpoint_id", "count_events", "events", "rows_by_key",
]
