"""Embedded chain: the native Anvil binary, started, snapshotted and stopped by the project.

DESIGN.md §3: Anvil's own ``--state FILE`` rewrites the file in place, and a SIGKILL during
that write leaves a file Anvil refuses to load. So durability is ours: this manager asks the
running node for its state (``anvil_dumpState``), checks that it parses, writes it to a
temporary file and renames it over the last good snapshot. On start it loads the last good
snapshot; whatever the node lost since then is re-sent from the chain client's journal
(:meth:`ledger.chain.client.ChainClient.recover`).

The native binary is started and signalled directly (not the npm wrapper, whose death
leaves the node running).

This module is also the embedded-node adapter: the development-node calls (``anvil_*``,
``evm_*``: funding, time travel, snapshots) live here and nowhere else in the product path.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ledger.chain.client import ChainClient
from ledger.chain.rpc import ChainError

#: Where npm puts the native binary of ``@foundry-rs/anvil`` (package.json pins 1.5.1).
ANVIL_RELATIVE = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
#: Default chain id of the embedded chain (any id works; production ids come from configuration).
DEFAULT_CHAIN_ID = 31337
#: EVM version the embedded node runs: ``paris`` like the compiler target (no PUSH0, no mcopy),
#: which Besu, GoQuorum and older consortium EVMs all run (DESIGN.md §3).
DEFAULT_HARDFORK = "paris"
#: Block gas limit of the embedded node.
DEFAULT_GAS_LIMIT = 60_000_000
#: Block gas limit of a throwaway bulk-run node (:meth:`AnvilNode.throwaway`): far above what one
#: JSON-RPC batch of transactions needs, so automine never leaves a transaction pending.
BULK_GAS_LIMIT = 100_000_000_000


class NodeError(RuntimeError):
    """The embedded node could not be started, reached or snapshotted."""


def anvil_binary(project_root: Path) -> Path:
    """Path of the native Anvil binary installed by ``npm ci``.

    Raises:
        NodeError: if it is missing (run the README's set-up command).
    """
    path = project_root / ANVIL_RELATIVE
    if not path.exists():
        raise NodeError(f"Anvil binary not found at {path}; run `npm ci` in {project_root}")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on now (the OS picks it; another process may
    still take it before the caller binds it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _snapshot_parses(path: Path) -> bool:
    try:
        with gzip.open(path, "rb") as fh:
            data = json.loads(fh.read())
        return isinstance(data, dict) and "accounts" in data
    except (OSError, EOFError, ValueError):
        return False


@dataclass
class AnvilNode:
    """One embedded Anvil node with crash-safe snapshots.

    Args:
        binary: native anvil binary.
        data_dir: directory for the snapshot (``chain-state.json.gz``) and the node log.
        port: JSON-RPC port on 127.0.0.1.
        chain_id: EIP-155 chain id.
        gas_limit: block gas limit.
        base_fee: ``--block-base-fee-per-gas`` (None: Anvil's EIP-1559 default). With 0 the base fee
            stays 0 however full the blocks are (free gas, as on permissioned networks): batches
            fill blocks, and a rising base fee would strand transactions priced before the rise.
        prune_history: ``--prune-history``: keep no historical states (Anvil otherwise writes every
            block's state under ~/.foundry/anvil/tmp — about 14 GB for a full simulation run).
        keep_snapshot: whether leaving the ``with`` block snapshots the node before stopping it.
    """

    binary: Path
    data_dir: Path
    port: int = 8545
    chain_id: int = DEFAULT_CHAIN_ID
    hardfork: str = DEFAULT_HARDFORK
    host: str = "127.0.0.1"
    gas_limit: int = DEFAULT_GAS_LIMIT
    base_fee: int | None = None
    prune_history: bool = False
    keep_snapshot: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @classmethod
    def throwaway(cls, binary: Path, data_dir: Path) -> AnvilNode:
        """A node for one bulk run (simulation, registry replay) on a free port: block gas limit
        :data:`BULK_GAS_LIMIT`, base fee 0, no history kept. Stop it with ``stop(snapshot=False)``
        (its context manager keeps no snapshot)."""
        return cls(binary, data_dir, port=free_port(), gas_limit=BULK_GAS_LIMIT, base_fee=0, prune_history=True,
                   keep_snapshot=False)

    @property
    def url(self) -> str:
        """JSON-RPC URL of the node."""
        return f"http://{self.host}:{self.port}"

    @property
    def snapshot_path(self) -> Path:
        """Last good state snapshot (gzip of Anvil's JSON state)."""
        return self.data_dir / "chain-state.json.gz"

    def start(self, timeout: float = 30.0) -> None:
        """Start the node, loading the last good snapshot if there is one.

        Raises:
            NodeError: if the port is taken or the node does not answer within ``timeout``.
        """
        if self.process is not None and self.process.poll() is None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._rpc_alive():
            raise NodeError(f"something already answers on {self.url}; choose another --port")
        args = [
            str(self.binary), "--host", self.host, "--port", str(self.port),
            "--chain-id", str(self.chain_id), "--hardfork", self.hardfork,
            "--gas-limit", str(self.gas_limit), "--accounts", "1", "--silent",
        ]
        if self.base_fee is not None:
            args += ["--block-base-fee-per-gas", str(self.base_fee)]
        if self.prune_history:
            args.append("--prune-history")
        snap = self.snapshot_path
        if snap.exists():
            if not _snapshot_parses(snap):
                raise NodeError(f"snapshot {snap} does not parse; it was never written by this manager")
            plain = self.data_dir / "chain-state.load.json"
            with gzip.open(snap, "rb") as fh:
                plain.write_bytes(fh.read())
            args += ["--load-state", str(plain)]
        with open(self.data_dir / "anvil.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NodeError(f"anvil exited with code {self.process.returncode}; see {self.data_dir / 'anvil.log'}")
            if self._rpc_alive():
                return
            time.sleep(0.05)
        self.kill()
        raise NodeError(f"anvil did not answer on {self.url} within {timeout} s")

    def _rpc(self, method: str, params: list | None = None, timeout: float = 120.0) -> object:
        r = httpx.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=timeout)
        body = r.json()
        if "error" in body:
            raise NodeError(f"{method}: {body['error']}")
        return body["result"]

    def _rpc_alive(self) -> bool:
        try:
            return int(str(self._rpc("eth_chainId", timeout=1.0)), 16) >= 0
        except (httpx.HTTPError, NodeError, ValueError):
            return False

    def snapshot(self) -> Path:
        """Write the node's current state as the new last good snapshot (atomic rename).

        Returns:
            the snapshot path.

        Raises:
            NodeError: if the node does not answer or its dump does not parse.
        """
        hex_state = str(self._rpc("anvil_dumpState"))
        raw = bytes.fromhex(hex_state[2:] if hex_state.startswith("0x") else hex_state)
        try:
            plain = gzip.decompress(raw)
        except OSError:
            plain = raw  # some versions return uncompressed JSON
        state = json.loads(plain)
        if not isinstance(state, dict) or "accounts" not in state:
            raise NodeError("anvil_dumpState returned something that is not a state")
        tmp = self.snapshot_path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(gzip.compress(plain, compresslevel=3))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.snapshot_path)
        return self.snapshot_path

    def stop(self, snapshot: bool = True) -> None:
        """Snapshot (by default) and stop the node with SIGTERM (SIGKILL after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        if snapshot:
            self.snapshot()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL the node, as a crash would (tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> AnvilNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(snapshot=self.keep_snapshot)


# ---------------------------------------------------------------------------------------------
# Development-node calls. Only the embedded node answers these (Anvil's ``anvil_*`` and the
# Hardhat-compatible ``evm_*`` methods); the product path never needs them on a network, where
# the operators fund accounts (genesis allocation or transfers) and time is the wall clock.


def set_balances(client: ChainClient, addresses: Iterable[str], wei: int = 10**24) -> None:
    """Give accounts gas money with ``anvil_setBalance`` (embedded dev chain only).

    Raises:
        ChainError: the node refused (not an Anvil node).
    """
    out = client.rpc_batch([("anvil_setBalance", [a, hex(wei)]) for a in addresses])
    bad = [r["error"] for r in out if "error" in r]
    if bad:
        raise ChainError(f"anvil_setBalance refused (not the embedded Anvil node?): {bad[0]}")


def advance_time(client: ChainClient, seconds: int) -> None:
    """Move the dev chain's clock forward by ``seconds`` and mine a block (``evm_increaseTime``,
    ``evm_mine``; embedded dev chain only)."""
    client.rpc("evm_increaseTime", seconds)
    client.rpc("evm_mine")


def snapshot_chain(client: ChainClient) -> str:
    """Take an ``evm_snapshot`` of the dev chain; returns its id for :func:`revert_chain`."""
    return str(client.rpc("evm_snapshot"))


def revert_chain(client: ChainClient, snapshot_id: str) -> None:
    """Return the dev chain to ``snapshot_id`` (``evm_revert``) and forget, in the client's journal,
    the transactions the chain no longer has (:meth:`ChainClient.rewind`).

    Raises:
        ChainError: the snapshot does not exist any more.
    """
    if client.rpc("evm_revert", snapshot_id) is not True:
        raise ChainError(f"evm_revert: no snapshot {snapshot_id}")
    client.rewind()
