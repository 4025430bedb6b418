"""FastAPI application factory (FastAPI "Bigger Applications" layout).

Routers: ``enterprise`` (submission portal), ``verifier`` (audit client), ``regulator``,
``readings`` (oracle node ingestion), ``audit`` and ``public`` (read-only); server-rendered pages under ``/portal`` (:mod:`api.portal`). Every mutating call is
authenticated (API key or EIP-712 signed request, :mod:`api.auth`) and mapped to an on-chain role;
errors are RFC 9457 problem details (:mod:`api.problems`); POSTs honour ``Idempotency-Key``
(:mod:`api.idempotency`); lists are cursor-paginated (:mod:`api.pagination`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from api import (
    account,
    alerts,
    allocation,
    audit,
    claims,
    devices,
    enterprise,
    evidence,
    exchange,
    history,
    holdings,
    idempotency,
    oracle_alerts,
    portal,
    problems,
    readings,
    registry,
    regulator,
    reports,
    verifier,
)
from api.completions import COMPLETIONS
from api.deps import AppContext
from ledger.contracts.deployment import Deployment
from ledger.store.migrate import upgrade


def create_app(deployment: Deployment, api_store: Engine, oracle_node: Any | None = None,
               custodial: Iterable[str] = (), index_store: Engine | None = None) -> FastAPI:
    """Build the app for a deployment.

    Args:
        api_store: engine of the API store (keys, nonces, idempotency records).
        oracle_node: serve ``POST /v1/readings`` and readings/proofs from this node's store.
        custodial: accounts whose keys ``deployment.client`` holds (the API signs for them).
        index_store: engine of the event indexer tables behind the history and settlement-stream
            queries; default: the API store itself (each store has its own Alembic version table).
    """
    _migrate_api_store(api_store)
    upgrade(api_store, "alerts")   # early-warning rules and alerts (ledger/alerts/store.py) beside the API's tables
    index_store = index_store if index_store is not None else api_store
    upgrade(index_store, "indexer")
    app = FastAPI(title="CarbonLedger API", version="1.0.0",
                  description="Signed meter data, oracle-quorum anchoring and on-chain emissions accounting. "
                              "Authenticate with `Authorization: Bearer <API key>` or an EIP-712 signed request "
                              "(X-CL-Account, X-CL-Timestamp, X-CL-Nonce, X-CL-Signature). Errors: RFC 9457 problem "
                              "details, types documented at /v1/problems/{slug}. POSTs accept `Idempotency-Key`.")
    app.state.ctx = AppContext(deployment, api_store, oracle_node, set(custodial), index_store)
    problems.install(app)
    idempotency.install(app, deployment.client, COMPLETIONS)   # leases, takeover from the journal (api/completions.py)
    for r in (enterprise.router, holdings.router, verifier.router, regulator.router, allocation.router, registry.router,
              exchange.router, readings.router, audit.router, history.router, allocation.audit, audit.public,
              alerts.router, oracle_alerts.router, claims.router):
        app.include_router(r)
    app.include_router(devices.router)
    app.include_router(devices.calibration_router)
    app.include_router(reports.router)
    app.include_router(account.router)   # enterprise carbon account (issue 13)
    evidence.install(app)
    portal.mount(app)   # /portal pages: session middleware (signed HttpOnly cookie), router, login redirects

    @app.get("/v1/health", tags=["meta"], summary="Liveness and chain status")
    def health() -> dict[str, Any]:
        d = app.state.ctx.deployment
        return {"status": "ok", "chain_id": d.client.chain_id, "block": int(d.client.rpc("eth_blockNumber"), 16),
                "oracle_node": getattr(app.state.ctx.oracle_node, "name", None)}

    return app


def _migrate_api_store(engine: Engine) -> None:
    """Bring the API store to the newest migration (api/migrations)."""
    upgrade(engine, "api")
