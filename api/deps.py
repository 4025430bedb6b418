"""Shared dependencies of the routers: the deployment (chain client + contracts) and, in an
oracle node process, the oracle node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from api.problems import Problem
from ledger.deployment import Deployment


@dataclass
class AppContext:
    """What a running API process holds."""

    deployment: Deployment
    oracle_node: Any | None = None   # oracles.node.OracleNode in an oracle node process


def context(request: Request) -> AppContext:
    """The application's context (FastAPI dependency)."""
    return request.app.state.ctx


def oracle_node(request: Request) -> Any:
    """The oracle node of this process. Raises a ``not-an-oracle-node`` problem if none."""
    node = request.app.state.ctx.oracle_node
    if node is None:
        raise Problem("not-an-oracle-node", "this API process runs no oracle node")
    return node
