"""Shared dependencies of the routers: the deployment (chain client + contracts), the API store,
the custodial accounts, and, in an oracle node process, the oracle node."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from sqlalchemy import Engine

from api.problems import Problem
from ledger.contracts.deployment import Deployment
from ledger.records.indexer import Indexer, IndexerError


@dataclass
class AppContext:
    """What a running API process holds."""

    deployment: Deployment
    api_store: Engine
    oracle_node: Any | None = None            # oracles.node.OracleNode whose store serves readings
    custodial: set[str] = field(default_factory=set)   # accounts whose keys the chain client holds
    index_store: Engine | None = None          # event indexer tables (ledger.records.indexer), migrated
    _indexer: Any = field(default=None, init=False, repr=False)
    _index_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def index(self) -> Engine:
        """The indexer store brought up to the chain head first (read-your-writes for audit
        queries). Raises a ``chain-unavailable`` problem if the node cannot be read."""
        if self.index_store is None:
            raise RuntimeError("this API process has no index store")
        with self._index_lock:
            if self._indexer is None:
                self._indexer = Indexer(self.deployment, self.index_store)
            try:
                self._indexer.sync()
            except (IndexerError, OSError) as exc:
                raise Problem("chain-unavailable", f"indexer could not follow the chain: {exc}") from None
        return self.index_store


def context(request: Request) -> AppContext:
    """The application's context (FastAPI dependency)."""
    return request.app.state.ctx


def oracle_node(request: Request) -> Any:
    """The oracle node of this process. Raises a ``not-an-oracle-node`` problem if none."""
    node = request.app.state.ctx.oracle_node
    if node is None:
        raise Problem("not-an-oracle-node", "this API process runs no oracle node")
    return node


def require_custodial(ctx: AppContext, account: str) -> str:
    """``account`` if the API holds its key, else a ``no-custodial-key`` problem."""
    if account not in ctx.custodial:
        raise Problem("no-custodial-key", f"the API holds no key for {account}; sign the transaction yourself (raw_transaction)")
    return account
