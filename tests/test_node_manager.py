"""The embedded node manager keeps the last snapshot that parses (DESIGN.md §3)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ledger.chain.anvil import BULK_GAS_LIMIT, DEFAULT_GAS_LIMIT, AnvilNode, NodeError, anvil_binary
from tests.conftest import ROOT, free_port


def rpc(node: AnvilNode, method: str, params: list | None = None):
    return httpx.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).json()["result"]


def test_state_survives_a_restart_from_the_snapshot(tmp_path: Path) -> None:
    node = AnvilNode(anvil_binary(ROOT), tmp_path, port=free_port())
    node.start()
    try:
        rpc(node, "anvil_setBalance", ["0x" + "ab" * 20, "0x2a"])
        rpc(node, "evm_mine")
        block = rpc(node, "eth_blockNumber")
        node.snapshot()
        (tmp_path / "chain-state.json.tmp").write_bytes(b"\x1f\x8b half a write")   # a crash mid-write
        node.kill()
        node.start()
        assert rpc(node, "eth_blockNumber") == block
        assert int(rpc(node, "eth_getBalance", ["0x" + "ab" * 20, "latest"]), 16) == 42
    finally:
        node.kill()


def test_start_refuses_a_snapshot_that_does_not_parse(tmp_path: Path) -> None:
    (tmp_path / "chain-state.json.gz").write_bytes(b"not gzip")
    node = AnvilNode(anvil_binary(ROOT), tmp_path, port=free_port())
    with pytest.raises(NodeError, match="does not parse"):
        node.start()


def test_start_refuses_a_port_already_served(tmp_path: Path) -> None:
    a = AnvilNode(anvil_binary(ROOT), tmp_path / "a", port=free_port())
    a.start()
    try:
        with pytest.raises(NodeError, match="already answers"):
            AnvilNode(anvil_binary(ROOT), tmp_path / "b", port=a.port).start()
    finally:
        a.kill()


def test_a_throwaway_node_has_a_bulk_gas_limit_no_base_fee_and_keeps_no_snapshot(tmp_path: Path) -> None:
    with AnvilNode.throwaway(anvil_binary(ROOT), tmp_path) as node:
        block = rpc(node, "eth_getBlockByNumber", ["latest", False])
        assert int(block["gasLimit"], 16) == BULK_GAS_LIMIT
        assert int(block["baseFeePerGas"], 16) == 0
        rpc(node, "evm_mine")
        assert int(rpc(node, "eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16) == 0
    assert node.process is None
    assert not node.snapshot_path.exists()


def test_the_embedded_node_keeps_its_default_gas_limit_and_a_snapshot_on_exit(tmp_path: Path) -> None:
    with AnvilNode(anvil_binary(ROOT), tmp_path, port=free_port()) as node:
        block = rpc(node, "eth_getBlockByNumber", ["latest", False])
        assert int(block["gasLimit"], 16) == DEFAULT_GAS_LIMIT
    assert node.snapshot_path.exists()
