"""The event indexer (ledger/records/indexer.py) and `audit verify` (ledger/audit_verify.py,
scripts/cli_audit.py) against real Anvil nodes: the session world, and a System of its own for
a chain node kill + restart + journal recovery and for oracle stores with anchored batches."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from sqlalchemy import Engine, event, select, text
from typer.testing import CliRunner

from ledger.chain.anvil import AnvilNode, anvil_binary
from ledger.chain.client import Call, ChainError
from ledger.contracts.anchored import split_signatures
from ledger.contracts.compiler import Artifact
from ledger.crypto.primitives import keccak256, recover_address
from ledger.identifiers import org_id
from ledger.meter_data.reading import Reading, reading_leaf
from ledger.records.indexer import (
    ChainChangedError,
    ChainEvent,
    EventQueryError,
    EventSpec,
    Indexer,
    IndexerCheckpoint,
    IndexerError,
    events,
)
from ledger.store.db import make_engine, sqlite_url
from ledger.verify.audit import VerifyError, verify_events, verify_oracle_store
from oracles.device import DeviceSigner
from oracles.submitter import Submitter
from oracles.system import System
from scripts.cli import app
from tests.conftest import ROOT, USCC, World, free_port, make_world
from tests.helpers import DAY0, as_tuple, minute_readings, report_for, sign_report


@pytest.fixture()
def db(tmp_path: Path) -> Engine:
    return make_engine(sqlite_url(tmp_path / "indexer.sqlite"))


def _keys(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(ChainEvent.tx_hash, ChainEvent.log_index).order_by(ChainEvent.id))]


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(ChainEvent).order_by(ChainEvent.id)))


def _expected_from_web3(w: Any) -> set[tuple[str, int, str, str]]:
    """Every event of every contract, read event by event through web3's own filters and decoder."""
    out = set()
    start = w.dep.manifest["deployment_block"]
    for name, info in w.dep.manifest["contracts"].items():
        contract = w.client.w3.eth.contract(address=info["address"], abi=info["abi"])   # web3, not our bindings
        for item in contract.abi:
            if item["type"] == "event":
                for lg in getattr(contract.events, item["name"])().get_logs(from_block=start):
                    out.add(("0x" + bytes(lg["transactionHash"]).hex(), lg["logIndex"], name, item["name"]))
    return out


def _anchor_day(w: World, day: int, watts: list[int]) -> tuple[int, Any]:
    rs = minute_readings(w.device, DAY0 + day * 86_400, watts)
    rep, _ = report_for(rs, w.call(w.dep.anchor.functions.configDigest()), DAY0 + day * 86_400, DAY0 + (day + 1) * 86_400)
    sigs = sign_report(rep, w.dep.domain.separator, [w.oracle_signer(1), w.oracle_signer(2), w.oracle_signer(3)])
    res = w.tx(w.dep.anchor.functions.anchor(as_tuple(rep), sigs), "oracle-1")
    return int(w.dep.anchor.decode_events(res, "BatchAnchored")[0].batchId), rep


# ----------------------------------------------------------------------------- indexing
def test_sync_indexes_every_event_of_the_deployment(chain: World, db: Engine) -> None:
    batch_id, rep = _anchor_day(chain, 0, [1_000, 2_000, 3_000])
    idx = Indexer(chain.dep, db, step=5)
    added = idx.sync()
    expected = _expected_from_web3(chain)
    got = {(r.tx_hash, r.log_index, r.contract, r.event) for r in _rows(db)}
    assert added == len(expected) == len(got) >= 20
    assert got == expected
    cp = idx.checkpoint()
    assert cp is not None and cp.last_block == int(chain.client.rpc("eth_blockNumber"), 16)
    anchored = events(db, contract="MeterDataAnchor", event="BatchAnchored", batchId=batch_id)
    assert len(anchored) == 1
    args = anchored[0].args
    assert (args["device"], args["start"], args["end"]) == ("0x" + chain.device.hex(), rep.start, rep.end)
    assert (args["count"], args["totalWh"], args["root"]) == (3, rep.total_wh, "0x" + rep.root.hex())
    sigs = split_signatures(bytes.fromhex(args["signatures"][2:]))   # 65-byte signatures packed, as 0x hex
    assert {recover_address(bytes.fromhex(args["reportDigest"][2:]), s) for s in sigs} == {
        chain.oracle_signer(i).address for i in (1, 2, 3)}


def test_second_sync_adds_nothing_and_a_later_sync_only_the_new_events(chain: World, db: Engine) -> None:
    idx = Indexer(chain.dep, db, step=7)
    first = idx.sync()
    before = _keys(db)
    assert first == len(before) > 0
    assert idx.sync() == 0
    assert _keys(db) == before
    grid = bytes(chain.call(chain.dep.factors.functions.GRID_EF()))
    chain.tx(chain.dep.factors.functions.publishFactorSet(2011, 2012, [grid], [5703], [4], "citation", "later"), "regulator")
    assert idx.sync() == 1
    new = events(db, after_id=len(before))
    assert [(e.contract, e.event, e.args["fromYear"], e.args["label"]) for e in new] == \
        [("EmissionFactorRegistry", "FactorSetPublished", 2011, "later")]


def test_sync_resumes_after_a_crash_between_inserting_events_and_moving_the_checkpoint(chain: World, tmp_path: Path) -> None:
    ref = make_engine(sqlite_url(tmp_path / "ref.sqlite"))
    Indexer(chain.dep, ref).sync()
    ref_rows = _rows(ref)
    step, first = 2, chain.dep.manifest["deployment_block"]
    # crash while committing the range that holds the second block with events
    k = (sorted({r.block_number for r in ref_rows})[1] - first) // step
    crash_hi = first + (k + 1) * step - 1
    committed = crash_hi - step if k else None
    engine = make_engine(sqlite_url(tmp_path / "crash.sqlite"))
    idx = Indexer(chain.dep, engine, step=step)

    def crash_at_checkpoint(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if "indexer_checkpoint" in statement and crash_hi in (params or ()):
            raise RuntimeError("injected crash after this range's events were inserted")

    event.listen(engine, "before_cursor_execute", crash_at_checkpoint)
    with pytest.raises(RuntimeError, match="injected crash"):
        idx.sync()
    event.remove(engine, "before_cursor_execute", crash_at_checkpoint)
    cp = idx.checkpoint()
    assert (cp.last_block if cp else None) == committed
    kept = [(r.tx_hash, r.log_index) for r in ref_rows if committed is not None and r.block_number <= committed]
    assert _keys(engine) == kept                                          # the crashed range left nothing
    assert any((committed or 0) < r.block_number <= crash_hi for r in ref_rows)  # it had events
    added = idx.sync()                                                    # resume
    assert _keys(engine) == _keys(ref)
    assert added == len(ref_rows) - len(kept)
    assert verify_events(chain.dep, engine) == []


def test_sync_resumes_after_the_node_fails_mid_sync(chain: World, db: Engine, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ref = make_engine(sqlite_url(tmp_path / "ref.sqlite"))
    Indexer(chain.dep, ref).sync()
    idx = Indexer(chain.dep, db, step=3)
    real = chain.client.rpc_batch
    calls = []

    def flaky(requests: Any) -> Any:
        if any(m == "eth_getLogs" for m, _ in requests):
            calls.append(1)
            if len(calls) == 2:
                raise ChainError("eth_getLogs: connection refused (injected)")
        return real(requests)

    monkeypatch.setattr(chain.client, "rpc_batch", flaky)
    with pytest.raises(ChainError, match="injected"):
        idx.sync()
    monkeypatch.setattr(chain.client, "rpc_batch", real)
    cp = idx.checkpoint()
    assert cp is not None and cp.last_block == chain.dep.manifest["deployment_block"] + 3 - 1
    idx.sync()
    assert _keys(db) == _keys(ref)


def anvil_reorg_keeping_transactions(w: World, depth: int, extra: list[str] | None = None) -> dict[int, tuple[str, str]]:
    """Anvil's own reorganisation (``anvil_reorg``): the last ``depth`` blocks are replaced by new
    blocks holding the same signed transactions, each in the block at the same offset, so every
    event stays while every block hash from there on changes (``extra``: raw transactions added to
    the last new block). Returns {block: (old hash, new hash)}."""
    head = int(w.client.rpc("eth_blockNumber"), 16)
    numbers = range(head - depth + 1, head + 1)
    old, txs = {}, []
    for offset, n in enumerate(numbers):
        block = w.client.rpc("eth_getBlockByNumber", hex(n), False)
        old[n] = block["hash"]
        txs += [[w.client.rpc("eth_getRawTransactionByHash", h), offset] for h in block["transactions"]]
    txs += [[raw, depth - 1] for raw in extra or []]
    w.client.rpc("anvil_reorg", depth, txs)
    assert int(w.client.rpc("eth_blockNumber"), 16) == head
    return {n: (old[n], w.client.rpc("eth_getBlockByNumber", hex(n), False)["hash"]) for n in numbers}


def _self_transfer(w: World) -> str:
    """A signed 0-value transfer of the outsider to itself at its next nonce (no event), as raw hex."""
    acct = Account.from_key(w.keys["outsider"])
    nonce = int(w.client.rpc("eth_getTransactionCount", acct.address, "latest"), 16)
    tx = {"to": acct.address, "value": 0, "gas": 21_000, "gasPrice": 10**10, "nonce": nonce, "chainId": w.client.chain_id}
    return "0x" + bytes(acct.sign_transaction(tx).raw_transaction).hex()


def _stored_hashes_are_the_chains(w: World, engine: Engine) -> bool:
    stored = {r.block_number: r.block_hash for r in _rows(engine)}
    return all(w.client.rpc("eth_getBlockByNumber", hex(n), False)["hash"].lower() == h for n, h in stored.items())


@pytest.fixture()
def forkable(artifacts: dict[str, Any], tmp_path: Path) -> Iterator[World]:
    """A deployed world on an Anvil of its own: ``anvil_reorg`` drops every ``evm_snapshot`` of
    its node, so the session node (isolated by snapshots) must not be reorganised."""
    node = AnvilNode(anvil_binary(ROOT), tmp_path / "forkable", port=free_port())
    node.start()
    try:
        yield make_world(node.url, artifacts, tmp_path / "forkable-journal.sqlite")
    finally:
        node.stop(snapshot=False)


def test_sync_after_a_real_reorg_walks_back_and_reindexes_the_new_blocks(forkable: World, db: Engine, tmp_path: Path) -> None:
    chain = forkable
    idx = Indexer(chain.dep, db)
    assert idx.sync() > 0
    before = {(r.tx_hash, r.log_index): r.block_hash for r in _rows(db)}
    head = int(chain.client.rpc("eth_blockNumber"), 16)
    moved = anvil_reorg_keeping_transactions(chain, 3)
    assert all(o != n for o, n in moved.values())                       # a real fork of the last 3 blocks
    assert not _stored_hashes_are_the_chains(chain, db)
    added = idx.sync()
    (rw,) = idx.rewinds
    assert added == rw.events_deleted > 0                                # dropped and read again
    assert rw.from_block == head and rw.to_block is not None and rw.to_block <= head - 3
    after = {(r.tx_hash, r.log_index): r.block_hash for r in _rows(db)}
    assert set(after) == set(before)                                     # the same events…
    changed = {k for k in after if after[k] != before[k]}
    assert changed and all(before[k] in {o for o, _ in moved.values()} for k in changed)   # …re-read from the new blocks
    assert _stored_hashes_are_the_chains(chain, db)
    fresh = make_engine(sqlite_url(tmp_path / "fresh.sqlite"))
    Indexer(chain.dep, fresh).sync()
    assert _keys(db) == _keys(fresh) and verify_events(chain.dep, db) == []


def test_sync_starts_over_when_the_chain_reorganises_while_a_range_is_read(forkable: World, db: Engine, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Anvil reorganises (anvil_reorg) between the indexer's reads of a range; the hashes it reads
    are the node's own, nothing is patched."""
    chain = forkable
    idx = Indexer(chain.dep, db, step=3)
    real = idx.reader.block_hashes
    deployed = chain.dep.manifest["deployment_block"]
    head = int(chain.client.rpc("eth_blockNumber"), 16)
    reads = []

    def reorg_on_the_fourth_read(numbers: Any) -> Any:   # range 2, after its eth_getLogs: the node forks first
        reads.append(numbers)
        if len(reads) == 4:
            anvil_reorg_keeping_transactions(chain, head - (deployed + 3) + 1)
        return real(numbers)

    monkeypatch.setattr(idx.reader, "block_hashes", reorg_on_the_fourth_read)
    idx.sync()
    assert len(reads) > 4 and idx.rewinds == []                         # range 1 still holds: no walk back
    assert _stored_hashes_are_the_chains(chain, db)

    def reorg_before_every_read(numbers: Any) -> Any:   # a chain that forks under every read
        # one fresh transaction more each time: two reorganisations into the same blocks with the same
        # transactions give the same hashes, i.e. a chain that did not change
        anvil_reorg_keeping_transactions(chain, head - deployed + 1, [_self_transfer(chain)])
        return real(numbers)

    monkeypatch.setattr(idx.reader, "block_hashes", reorg_before_every_read)
    with pytest.raises(ChainChangedError, match="changed during 3 sync attempts"):
        idx.sync()
    assert [rw.to_block for rw in idx.rewinds] == [None]          # nothing it had indexed could be trusted
    monkeypatch.setattr(idx.reader, "block_hashes", real)
    idx.sync()
    ref = make_engine(sqlite_url(tmp_path / "ref.sqlite"))
    Indexer(chain.dep, ref).sync()
    assert _keys(db) == _keys(ref) and _stored_hashes_are_the_chains(chain, db)


def test_args_keep_bytes_as_hex_and_large_integers_exact() -> None:
    abi = {"name": "Sample", "type": "event", "inputs": [
        {"name": "big", "type": "uint256", "indexed": True},
        {"name": "note", "type": "string", "indexed": True},
        {"name": "small", "type": "int64", "indexed": False},
        {"name": "edge", "type": "uint64", "indexed": False},
        {"name": "blob", "type": "bytes", "indexed": False},
        {"name": "who", "type": "address[]", "indexed": False}]}
    spec = EventSpec("C", "Sample", tuple(abi["inputs"]), "Sample(uint256,string,int64,uint64,bytes,address[])")
    who = "0x" + "ab" * 20
    topics = [spec.topic0, "0x" + (2**60 + 1).to_bytes(32, "big").hex(), "0x" + keccak256(b"hello").hex()]
    data = "0x" + abi_encode(["int64", "uint64", "bytes", "address[]"], [-5, 2**53 - 1, b"\x01\x02", [who]]).hex()
    args = spec.decode(topics, data)
    assert args == {"big": str(2**60 + 1), "note": "0x" + keccak256(b"hello").hex(), "small": -5,
                    "edge": 2**53 - 1, "blob": "0x0102", "who": ["0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"]}
    assert json.loads(json.dumps(args)) == args
    with pytest.raises(IndexerError, match="indexed topics"):
        spec.decode(topics[:2], data)


# ----------------------------------------------------------------------------- queries
def test_events_pages_by_id_and_filters_by_decoded_arguments(chain: World, db: Engine) -> None:
    idx = Indexer(chain.dep, db)
    idx.sync()
    everything = events(db, limit=1000)
    pages, after = [], None
    while page := events(db, after_id=after, limit=4):
        pages += page
        after = page[-1].id
    assert [e.id for e in pages] == [e.id for e in everything] == sorted(e.id for e in everything)
    admitted = idx.events("ParticipantRegistry", "ParticipantAdmitted", limit=1000)
    n_admitted = len(chain.dep.participants.get_logs("ParticipantAdmitted", chain.dep.manifest["deployment_block"]))
    assert len(admitted) == n_admitted >= len(USCC)
    by_account = events(db, "ParticipantRegistry", "ParticipantAdmitted", account=chain.acct["verifier"].lower())
    assert [e.args["account"] for e in by_account] == [chain.acct["verifier"]]
    by_org = idx.events(event="ParticipantAdmitted", orgId=org_id(USCC["verifier"]))
    assert [e.id for e in by_org] == [e.id for e in by_account]
    assert [e.args["label"] for e in idx.events("EmissionFactorRegistry", "FactorSetPublished", factorSetId=1)] == ["test"]
    assert events(db, "EmissionFactorRegistry", "FactorSetPublished", factorSetId=999) == []


def test_events_refuses_an_unknown_contract_name(chain: World, db: Engine) -> None:
    idx = Indexer(chain.dep, db)
    idx.sync()
    with pytest.raises(EventQueryError, match="unknown contract 'CarbonMarket'"):
        events(db, contract="CarbonMarket")
    with pytest.raises(EventQueryError, match="unknown contract 'CarbonMarket'.*MeterDataAnchor"):
        idx.events(contract="CarbonMarket")


def test_events_refuses_unknown_event_or_argument_names_and_bad_pages(chain: World, db: Engine) -> None:
    idx = Indexer(chain.dep, db)
    with pytest.raises(EventQueryError, match="unknown event 'BatchAnchord' of MeterDataAnchor"):
        idx.events("MeterDataAnchor", "BatchAnchord")
    with pytest.raises(EventQueryError, match="unknown argument 'device'.*deviceId"):
        idx.events("DeviceRegistry", device="0x00")
    with pytest.raises(EventQueryError, match="limit must be 1..1000"):
        events(db, limit=0)
    with pytest.raises(EventQueryError, match="not an identifier"):
        events(db, **{"x') OR 1=1 --": 1})
    with pytest.raises(EventQueryError, match="use str, int, bool or bytes"):
        events(db, batchId=1.5)


def test_indexer_refuses_a_database_that_indexes_another_deployment(chain: World, db: Engine) -> None:
    Indexer(chain.dep, db)  # creates the tables
    with db.begin() as conn:
        conn.execute(IndexerCheckpoint.__table__.insert().values(id="1:0x" + "de" * 20, last_block=5,
                                                                 last_block_hash="0x" + "00" * 32, updated_at="x"))
    with pytest.raises(IndexerError, match="one indexer database per deployment"):
        Indexer(chain.dep, db)


def test_indexer_refuses_bad_settings(chain: World, db: Engine) -> None:
    with pytest.raises(ValueError, match="step must be >= 1"):
        Indexer(chain.dep, db, step=0)
    with pytest.raises(ValueError, match="confirmations must be >= 0"):
        Indexer(chain.dep, db, confirmations=-1)


def test_confirmations_hold_back_the_newest_blocks(chain: World, db: Engine) -> None:
    idx = Indexer(chain.dep, db, confirmations=2)
    idx.sync()
    head = int(chain.client.rpc("eth_blockNumber"), 16)
    cp = idx.checkpoint()
    assert cp is not None and cp.last_block == head - 2
    assert max(r.block_number for r in _rows(db)) <= head - 2


# ----------------------------------------------------------------------------- audit verify: events
def test_tampered_chain_events_rows_are_detected(chain: World, db: Engine) -> None:
    Indexer(chain.dep, db).sync()
    assert verify_events(chain.dep, db) == []
    rows = _rows(db)
    factor = next(r for r in rows if r.event == "FactorSetPublished")
    granted = next(r for r in rows if r.event == "RoleGranted")
    device = next(r for r in rows if r.event == "DeviceRegistered")
    with db.begin() as conn:
        conn.execute(text("UPDATE chain_events SET args = :a WHERE id = :i"),
                     {"a": factor.args.replace("[5703]", "[5000]"), "i": factor.id})
        conn.execute(text("UPDATE chain_events SET block_hash = :h WHERE id = :i"), {"h": "0x" + "11" * 32, "i": device.id})
        conn.execute(text("DELETE FROM chain_events WHERE id = :i"), {"i": granted.id})
        conn.execute(ChainEvent.__table__.insert().values(
            block_number=factor.block_number, block_hash=factor.block_hash, tx_hash="0x" + "ee" * 32, log_index=0,
            contract="EmissionFactorRegistry", address=factor.address, event="FactorSetPublished", args=factor.args))
    found = verify_events(chain.dep, db)
    by_kind = {(d.kind, d.where.split()[1]) for d in found}
    assert by_kind == {("altered_event", factor.tx_hash), ("altered_event", device.tx_hash),
                       ("missing_event", granted.tx_hash), ("extra_event", "0x" + "ee" * 32)}
    altered = {d.where.split()[1]: d.detail for d in found if d.kind == "altered_event"}
    assert "args" in altered[factor.tx_hash] and "5000" in altered[factor.tx_hash]
    assert "block_hash" in altered[device.tx_hash]


def test_indexing_queries_and_verification_on_postgresql(chain: World, fresh_pg_url: str) -> None:
    pg = make_engine(fresh_pg_url)
    batch_id, rep = _anchor_day(chain, 0, [1_500, 2_500])
    idx = Indexer(chain.dep, pg, step=4)
    assert idx.sync() == len(_expected_from_web3(chain))
    assert idx.sync() == 0
    assert [e.args["totalWh"] for e in idx.events("MeterDataAnchor", "BatchAnchored", device=chain.device)] == [rep.total_wh]
    assert [e.args["batchId"] for e in events(pg, batchId=batch_id)] == [batch_id]
    by_account = events(pg, "ParticipantRegistry", "ParticipantAdmitted", account=chain.acct["verifier"].lower())
    assert [e.args["account"] for e in by_account] == [chain.acct["verifier"]]
    assert verify_events(chain.dep, pg) == []
    with pg.begin() as conn:
        conn.execute(text("UPDATE chain_events SET args = replace(args, :o, :n) WHERE event = 'BatchAnchored'"),
                     {"o": f'"totalWh":{rep.total_wh}', "n": f'"totalWh":{rep.total_wh + 1}'})
    assert [(d.kind, "args.totalWh" in d.detail) for d in verify_events(chain.dep, pg)] == [("altered_event", True)]
    pg.dispose()


# ----------------------------------------------------------------------------- a System of our own
@pytest.fixture(scope="module")
def system(artifacts: dict[str, Artifact], tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data = tmp_path_factory.mktemp("indexer-system")
    shutil.copytree(ROOT / ".carbonledger" / "build", data / "build")   # the session's compiled contracts
    s = System(data, port=free_port(), log=lambda m: None).start()
    yield s
    s.stop()


#: One-minute readings per synthetic day (the first six hours: enough for the checks, quick to sign).
PER_DAY = 360


def _anchor_days(system: System, days: range) -> list[int]:
    """Sign synthetic minute readings for ``days`` (after DAY0), ingest them in the three oracle
    nodes and anchor one batch per day with 2 of 3 signatures; returns the batch ids."""
    dev = DeviceSigner(system.device, system.device_key, system.dep.domain.separator)
    periods = []
    for day in days:
        start = DAY0 + day * 86_400
        watts = [300 + (i * 37 + day * 11) % 2_000 for i in range(PER_DAY)]
        signed = [dev.sign(r) for r in minute_readings(system.device, start, watts, first_seq=day * 1_440 + 1)]
        for node in system.oracle_nodes:
            assert {a.status for a in node.ingest(signed)} == {"accepted"}
        periods.append((start, start + 86_400))
    sub = Submitter(system.client, system.dep.anchor, system.accounts["oracle-1"], system.dep.quorum)
    out = sub.anchor_periods(system.oracle_nodes, system.device, periods)
    assert [o.status for o in out] == ["anchored"] * len(periods)
    return [int(o.batch_id) for o in out if o.batch_id]


def _head(system: System) -> int:
    return int(system.client.rpc("eth_blockNumber"), 16)


def test_indexer_survives_a_chain_node_kill_restart_and_journal_recovery(system: System, tmp_path: Path) -> None:
    dep = system.dep
    _anchor_days(system, range(0, 1))
    a = Indexer(dep, make_engine(sqlite_url(tmp_path / "a.sqlite")))   # syncs while the node is back but not re-fed
    b = Indexer(dep, make_engine(sqlite_url(tmp_path / "b.sqlite")))   # syncs only after recovery
    a.sync(), b.sync()
    system.node.snapshot()                                              # last good snapshot
    snap_head = _head(system)
    later = _anchor_days(system, range(1, 3))
    system.client.send([Call.of(dep.participants.functions.setEncryptionKey(keccak256(b"after snapshot")),   # one event
                                system.accounts["regulator"])])
    assert a.sync() == b.sync() == 3 and _keys(a.engine) == _keys(b.engine)
    old_head = _head(system)
    lost = [(r.tx_hash, r.log_index, r.block_hash) for r in _rows(b.engine) if r.block_number > snap_head]
    assert len(lost) == 3

    system.node.kill()                                                  # SIGKILL
    system.node.start()                                                 # back from the older snapshot
    assert _head(system) == snap_head < old_head
    assert a.sync() == 0                                                # head below the checkpoint: walk back
    assert [(rw.from_block, rw.to_block is not None and rw.to_block <= snap_head, rw.events_deleted) for rw in a.rewinds] == \
        [(old_head, True, 3)]
    assert verify_events(dep, a.engine) == []
    stale = verify_events(dep, b.engine)
    assert {d.kind for d in stale} >= {"stale_checkpoint", "extra_event"}

    assert system.client.recover() == 3                                 # journal re-fed: same transactions
    if _head(system) < old_head:                                        # the chain moves on past b's checkpoint
        system.client.rpc("anvil_mine", hex(old_head - _head(system)))
    assert _head(system) >= old_head
    assert a.sync() == 3
    assert b.sync() == 3                                                # checkpoint hash differs: walk back
    assert [(rw.from_block, rw.events_deleted) for rw in b.rewinds] == [(old_head, 3)]
    fresh = Indexer(dep, make_engine(sqlite_url(tmp_path / "fresh.sqlite")))
    fresh.sync()
    assert _keys(a.engine) == _keys(b.engine) == _keys(fresh.engine)
    assert verify_events(dep, a.engine) == verify_events(dep, b.engine) == []
    again = {r.tx_hash: r.block_hash for r in _rows(b.engine) if r.block_number > snap_head}
    assert set(again) == {h for h, _, _ in lost}                        # the same transactions…
    assert not set(again.values()) & {bh for _, _, bh in lost}          # …in blocks whose hashes differ
    anchored = b.events("MeterDataAnchor", "BatchAnchored", limit=1000)
    assert [e.args["batchId"] for e in anchored][-2:] == later


# ----------------------------------------------------------------------------- audit verify: oracle stores
def test_tampered_oracle_store_reading_is_reported_with_its_batch_id(system: System) -> None:
    dep = system.dep
    ids = _anchor_days(system, range(5, 7))
    for node in system.oracle_nodes:
        assert verify_oracle_store(dep, node.engine) == []
    store = system.oracle_nodes[1].engine
    assert verify_oracle_store(dep, store, signatures=True) == []
    seq = 5 * 1_440 + 101                                               # in day 5: batch ids[0]
    with store.connect() as conn:
        row = conn.execute(text("SELECT * FROM readings WHERE sequence = :s"), {"s": seq}).one()
    try:
        with store.begin() as conn:                                     # +3600 W for 60 s = +60 Wh
            conn.execute(text("UPDATE readings SET value = value + 3600 WHERE sequence = :s"), {"s": seq})
        found = verify_oracle_store(dep, store)
        assert {d.kind for d in found} == {"reading_leaf", "batch_root", "batch_energy"}
        assert all(d.where.startswith(f"batch {ids[0]} ") for d in found)
        assert next(d for d in found if d.kind == "reading_leaf").detail.startswith(f"reading {seq}:")
        assert verify_oracle_store(dep, system.oracle_nodes[0].engine) == []   # the other stores are intact

        forged = Reading(bytes(row.device), seq, row.start, row.end, row.quantity_code, row.value + 3600, row.scale, row.flags)
        with store.begin() as conn:                                     # tracks covered: leaf rewritten too
            conn.execute(text("UPDATE readings SET leaf = :l WHERE sequence = :s"), {"l": reading_leaf(forged, bytes(row.signature)), "s": seq})
        assert {d.kind for d in verify_oracle_store(dep, store)} == {"batch_root", "batch_energy"}
        with_sigs = verify_oracle_store(dep, store, signatures=True)
        assert {d.kind for d in with_sigs} == {"batch_root", "batch_energy", "reading_signature"}
        assert next(d for d in with_sigs if d.kind == "reading_signature").detail.startswith(f"reading {seq}:")
    finally:
        with store.begin() as conn:
            conn.execute(text("UPDATE readings SET value = :v, leaf = :l WHERE sequence = :s"),
                         {"v": row.value, "l": row.leaf, "s": seq})
    assert verify_oracle_store(dep, store) == []


def test_verify_oracle_store_refuses_a_database_without_readings(system: System, db: Engine) -> None:
    Indexer(system.dep, db)
    with pytest.raises(VerifyError, match="no `readings` table"):
        verify_oracle_store(system.dep, db)


# ----------------------------------------------------------------------------- CLI
def test_cli_audit_index_then_verify_reports_a_tampered_row_and_exits_1(system: System, tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--data-dir", str(system.data_dir), "--rpc-url", system.client.rpc_url]
    res = runner.invoke(app, ["audit", "index", *common])
    assert res.exit_code == 0, res.output
    assert "BatchAnchored" in res.output and "events added" in res.output
    res = runner.invoke(app, ["audit", "verify", *common])
    assert res.exit_code == 0, res.output
    assert "no discrepancy" in res.output
    idx_db = make_engine(sqlite_url(system.data_dir / "indexer.sqlite"))
    with idx_db.begin() as conn:
        target = conn.execute(text("SELECT id, tx_hash FROM chain_events WHERE event = 'BatchAnchored' LIMIT 1")).one()
        conn.execute(text("UPDATE chain_events SET args = replace(args, :old, :new) WHERE id = :i"),
                     {"old": f'"count":{PER_DAY}', "new": f'"count":{PER_DAY - 1}', "i": target.id})
    report = tmp_path / "audit.json"
    res = runner.invoke(app, ["audit", "verify", *common, "--report-json", str(report)])
    assert res.exit_code == 1, res.output
    assert "altered_event" in res.output
    got = json.loads(report.read_text())["discrepancies"]
    assert [(d["source"], d["kind"], d["where"].split()[1]) for d in got] == [("indexer", "altered_event", target.tx_hash)]


def test_cli_audit_refuses_a_data_dir_without_a_deployment(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(tmp_path)])
    assert res.exit_code == 2
    assert "deployment.json does not exist" in res.output


def test_cli_audit_refuses_an_ipc_socket_that_does_not_exist(system: System, tmp_path: Path) -> None:
    for cmd in ("index", "verify"):
        res = CliRunner().invoke(app, ["audit", cmd, "--data-dir", str(system.data_dir), "--rpc-url", system.client.rpc_url,
                                       "--ipc", str(tmp_path / "no-node" / "geth.ipc")])
        assert res.exit_code == 2, res.output
        assert "no IPC socket at" in res.output
