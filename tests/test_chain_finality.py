"""Engine-neutral chain client on real Anvil nodes: finality after K blocks (journal pending →
included → final), a reorganisation that drops a write (the same signed bytes re-sent), fail-over
between several RPC URLs (nonces from the journal, nothing re-signed), and the refusals of bad
configuration. The same behaviour on the geth Clique network: tests/test_network_faults.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ledger.chain.anvil import AnvilNode, anvil_binary, set_balances
from ledger.chain.client import Call, ChainClient, ChainUnavailable
from ledger.chain.finality import ANVIL, clique_final_after, identify, is_final
from ledger.chain.journal import FINAL, INCLUDED, JournalEntry
from ledger.chain.metrics import chain_section, percentile
from ledger.contracts.compiler import Artifact
from ledger.contracts.deployment import Deployment
from ledger.crypto.primitives import new_private_key
from ledger.records.indexer import ChainEvent, Indexer
from ledger.store.db import make_engine, sqlite_url
from ledger.verify.audit import verify_events
from tests.conftest import ROOT, World, free_port, make_world


def _node(tmp_path: Path, name: str) -> AnvilNode:
    node = AnvilNode(anvil_binary(ROOT), tmp_path / name, port=free_port())
    node.start()
    return node


@pytest.fixture()
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    n = _node(tmp_path, "a")
    yield n
    n.stop(snapshot=False)


def _journal(tmp_path: Path, name: str = "journal") -> Engine:
    return make_engine(sqlite_url(tmp_path / f"{name}.sqlite"))


def _rows(client: ChainClient) -> list[JournalEntry]:
    with Session(client.journal) as s:
        rows = list(s.scalars(select(JournalEntry).order_by(JournalEntry.sender, JournalEntry.nonce)))
        s.expunge_all()
    return rows


def _funded(client: ChainClient) -> str:
    me = client.add_account(new_private_key())
    set_balances(client, [me])
    return me


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize("urls", [[], "ftp://127.0.0.1:1", ["http://"], ["http://127.0.0.1:1", "http://127.0.0.1:1"], [None]])
def test_client_refuses_a_bad_url_list(urls: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="URL"):
        ChainClient(urls, _journal(tmp_path))


@pytest.mark.parametrize("k", [0, -1, True, 1.5, "3"])
def test_client_refuses_final_after_below_one_or_not_an_integer(k: Any, node: AnvilNode, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="final_after must be an integer >= 1"):
        ChainClient(node.url, _journal(tmp_path), final_after=k)


@pytest.mark.parametrize("n", [0, -4])
def test_clique_depth_refuses_a_network_without_signers(n: int) -> None:
    with pytest.raises(ValueError, match="at least one signer"):
        clique_final_after(n)


def test_clique_depth_is_a_majority_of_the_signers() -> None:
    assert [clique_final_after(n) for n in (1, 2, 3, 4, 5, 7)] == [1, 2, 2, 3, 3, 4]
    assert identify("Geth/v1.13.15-stable/linux-amd64/go1.22.12", ["0x" + "11" * 20] * 4).default_final_after == 3
    with pytest.raises(ValueError, match="configure final_after"):
        _ = identify("Besu/v24.12.0/linux-x86_64/openjdk-java-21", None).default_final_after
    assert is_final(10, 12, 3) and not is_final(11, 12, 3)


def test_client_with_no_reachable_node_names_every_url(tmp_path: Path) -> None:
    urls = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    with pytest.raises(ChainUnavailable) as e:
        ChainClient(urls, _journal(tmp_path))
    assert all(u in str(e.value) for u in urls)


# ------------------------------------------------------------------ finality
def test_the_embedded_node_is_anvil_and_a_mined_write_is_final_at_once(node: AnvilNode, tmp_path: Path) -> None:
    c = ChainClient(node.url, _journal(tmp_path))
    eng = c.engine()
    assert (eng.name, eng.nodes, c.final_after) == (ANVIL, 1, 1) and eng.version.startswith("anvil")
    me = _funded(c)
    r = c.send([Call(me, me, b"", "self-transfer")])[0]
    (row,) = _rows(c)
    assert (row.status, row.block_number, row.receipt_status) == (FINAL, r.block_number, 1)


def test_a_write_is_final_only_after_k_blocks(node: AnvilNode, tmp_path: Path) -> None:
    c = ChainClient(node.url, _journal(tmp_path), final_after=3)
    me = _funded(c)
    r = c.send([Call(me, me, b"", "self-transfer")])[0]
    assert [e.status for e in _rows(c)] == [INCLUDED]
    c.rpc("evm_mine")
    st = c.refresh_finality()
    assert (st.head, st.included, st.final) == (r.block_number + 1, 1, 0)
    c.rpc("evm_mine")                                  # now 3 deep: its block and two on top
    st = c.refresh_finality()
    assert (st.included, st.final, st.resent) == (0, 1, [])
    assert [e.status for e in _rows(c)] == [FINAL]
    assert c.wait_final(timeout=5).pending == 0


def test_a_reorg_that_drops_a_write_resends_the_same_signed_bytes(node: AnvilNode, tmp_path: Path) -> None:
    c = ChainClient(node.url, _journal(tmp_path), final_after=3)
    me = _funded(c)
    c.send([Call(me, me, b"", "first")])
    r = c.send([Call(me, me, b"", "second")])[0]
    before = _rows(c)
    c.rpc("anvil_reorg", 1, [])                        # the block holding "second" is replaced by an empty one
    assert c.rpc("eth_getTransactionReceipt", r.tx_hash) is None
    st = c.refresh_finality()
    assert st.resent == [r.tx_hash]                    # same hash: the same bytes, nonce 1, not re-signed
    c.rpc("evm_mine")
    c.rpc("evm_mine")
    c.wait_final(timeout=30, poll=0.05)
    after = _rows(c)
    assert [(e.tx_hash, e.nonce, e.raw) for e in after] == [(e.tx_hash, e.nonce, e.raw) for e in before]
    assert all(e.status == FINAL for e in after)
    assert int(c.rpc("eth_getTransactionCount", me, "latest"), 16) == 2   # each write included exactly once


def test_the_client_fails_over_with_nonces_from_the_journal_and_never_resigns(tmp_path: Path) -> None:
    """Two nodes: the first takes a write and dies before it is final; the client moves to the
    second, hands it the same signed bytes and signs the next write with the journal's next nonce
    (the second node alone would have said 0)."""
    a, b = _node(tmp_path, "a"), _node(tmp_path, "b")
    try:
        c = ChainClient([a.url, b.url], _journal(tmp_path), final_after=2)
        me = c.add_account(new_private_key())
        set_balances(c, [me])
        set_balances(ChainClient(b.url, _journal(tmp_path, "other")), [me])
        first = c.send([Call(me, me, b"", "first")])[0]
        a.kill()
        assert int(ChainClient(b.url, _journal(tmp_path, "probe")).rpc("eth_getTransactionCount", me, "pending"), 16) == 0
        second = c.send([Call(me, me, b"", "second")])[0]
        assert c.endpoints.failovers == [(a.url, b.url)] and c.rpc_url == b.url
        rows = _rows(c)
        assert [(e.nonce, e.label) for e in rows] == [(0, "first"), (1, "second")]   # two signatures, no third
        assert rows[0].tx_hash == first.tx_hash and c.rpc("eth_getTransactionByHash", first.tx_hash) is not None
        assert second.status == 1
        c.rpc("evm_mine")
        c.wait_final(timeout=30, poll=0.05)
        assert int(c.rpc("eth_getTransactionCount", me, "latest"), 16) == 2
    finally:
        a.kill()
        b.stop(snapshot=False)


# ------------------------------------------------------------------ indexer and audit on final blocks
@pytest.fixture()
def forkable(artifacts: dict[str, Artifact], tmp_path: Path) -> Iterator[World]:
    n = _node(tmp_path, "forkable")
    try:
        yield make_world(n.url, artifacts, tmp_path / "world-journal.sqlite")
    finally:
        n.stop(snapshot=False)


def test_the_indexer_follows_final_blocks_and_undoes_what_a_reorg_removed(forkable: World, tmp_path: Path) -> None:
    w = forkable
    k3 = Deployment(ChainClient(w.client.rpc_url, _journal(tmp_path, "k3"), final_after=3), w.dep.manifest)
    head = int(w.client.rpc("eth_blockNumber"), 16)
    final_idx = Indexer(k3, _journal(tmp_path, "final-index"))
    eager_idx = Indexer(w.dep, _journal(tmp_path, "eager-index"))       # K = 1 on the embedded node
    final_idx.sync()
    eager_idx.sync()
    assert final_idx.checkpoint().last_block == head - 2 and eager_idx.checkpoint().last_block == head
    # a write whose block a reorganisation then replaces with an empty one
    r = w.tx(w.dep.participants.functions.setEncryptionKey(b"\x07" * 32), "verifier")
    eager_idx.sync()
    with eager_idx.engine.connect() as conn:
        assert conn.scalar(select(ChainEvent.tx_hash).where(ChainEvent.block_number == r.block_number)) == r.tx_hash
    w.client.rpc("anvil_reorg", 1, [])
    eager_idx.sync()
    (rw,) = eager_idx.rewinds
    assert rw.events_deleted >= 1                                        # it visibly undid what it had read
    with eager_idx.engine.connect() as conn:
        assert conn.scalar(select(ChainEvent.id).where(ChainEvent.tx_hash == r.tx_hash)) is None
    assert verify_events(w.dep, eager_idx.engine) == [] and verify_events(k3, final_idx.engine) == []


# ------------------------------------------------------------------ the report's chain section
@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], 0), ([1.0], 101)])
def test_percentile_refuses_no_values_or_a_rank_outside_0_100(values: list[float], q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile(values, q)


def test_the_chain_section_is_read_from_the_node(node: AnvilNode, tmp_path: Path) -> None:
    c = ChainClient(node.url, _journal(tmp_path))
    me = _funded(c)
    first, since = int(c.rpc("eth_blockNumber"), 16), datetime.now(UTC)
    for i in range(3):
        c.send([Call(me, me, b"", f"write {i}"), Call(me, me, b"", f"write {i}b")])
    ch = chain_section(c, first, since)
    assert (ch["engine"], ch["nodes"], ch["final_after_blocks"], ch["blocks"]) == ("anvil", 1, 1, 3)
    assert ch["version"] == c.rpc("web3_clientVersion") and ch["finality_s"]["p50"] <= ch["finality_s"]["p99"]
    assert [percentile([3.0, 1.0, 2.0, 4.0], q) for q in (50, 99, 100)] == [2.0, 4.0, 4.0]


def test_a_batch_larger_than_the_nodes_body_limit_is_posted_in_parts(node: AnvilNode, tmp_path: Path) -> None:
    """A JSON-RPC batch of ~7.2 MB (Anvil refuses a 6 MB body with -32600 "Invalid request") comes back
    as one answer per request: the client posts it in parts of at most BATCH_MAX_BYTES. Each
    request is a malformed raw transaction, so every answer is the node's own decode error."""
    client = ChainClient([node.url], journal=_journal(tmp_path))
    junk = "0x" + "ab" * 300_000
    answers = client.rpc_batch([("eth_sendRawTransaction", [junk])] * 12)
    assert len(answers) == 12 and all("error" in a and a["error"]["code"] != -32600 for a in answers)
    assert all("decode" in a["error"]["message"].lower() for a in answers), answers[0]
