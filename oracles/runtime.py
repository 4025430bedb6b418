"""Opening an oracle node from a data directory (its key, its store, the deployment)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ledger.chain.client import ChainClient
from ledger.contracts.deployment import Deployment
from ledger.crypto.keystore import Keystore, passphrase_from_environment
from ledger.crypto.primitives import Signer
from ledger.meter_data.workers import CheckWorkers
from ledger.store.db import make_engine, sqlite_url
from oracles.chain_devices import ChainDeviceDirectory
from oracles.node import OracleNode


def make_oracle_node(dep: Deployment, data_dir: Path, name: str, key: bytes, store_url: str | None = None,
                     node_cls: type[OracleNode] = OracleNode, workers: CheckWorkers | None = None) -> OracleNode:
    """The oracle node ``name`` with its own store (SQLite ``data_dir/oracles/<name>.sqlite`` by default)
    and its check workers (default: the process's shared pool, :func:`ledger.meter_data.workers.shared_workers`)."""
    engine = make_engine(store_url or sqlite_url(data_dir / "oracles" / f"{name}.sqlite"))
    return node_cls(name, Signer(key), engine, dep.domain.separator, ChainDeviceDirectory(dep), dep.config_digest,
                    workers=workers)


def open_oracle_node(data_dir: Path, name: str, rpc_url: str | Sequence[str], store_url: str | None = None,
                     node_cls: type[OracleNode] = OracleNode,
                     workers: CheckWorkers | None = None) -> tuple[Deployment, OracleNode]:
    """Open oracle node ``name`` of the deployment in ``data_dir`` against the chain at ``rpc_url``
    (or the first reachable of several URLs, :class:`ledger.chain.rpc.Endpoints`).

    Raises:
        FileNotFoundError: if the data directory has no deployment manifest or keys.
        KeystoreError: if ``name`` has no key there or the passphrase is wrong.
    """
    manifest = data_dir / "deployment.json"
    if not manifest.exists() or not (data_dir / "keystore" / "index.json").exists():
        raise FileNotFoundError(f"{data_dir} holds no deployment; run `carbonledger deploy` first")
    ks = Keystore(data_dir / "keystore", passphrase_from_environment(data_dir / "keystore.passphrase"))
    client = ChainClient(rpc_url, make_engine(sqlite_url(data_dir / "oracles" / f"{name}-journal.sqlite")))
    dep = Deployment.load(client, manifest)
    return dep, make_oracle_node(dep, data_dir, name, ks.unlock(name), store_url, node_cls, workers)
