"""FastAPI application factory (FastAPI "Bigger Applications" layout).

Routers: ``readings`` (oracle node ingestion, in an oracle node process) and ``audit``
(read-only provenance). Errors are RFC 9457 problem details (:mod:`api.problems`). The
authenticated enterprise / verifier / regulator endpoints come with the API platform issue.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api import audit, problems, readings
from api.deps import AppContext
from ledger.deployment import Deployment


def create_app(deployment: Deployment, oracle_node: Any | None = None) -> FastAPI:
    """Build the app for a deployment; pass ``oracle_node`` to serve ``POST /v1/readings``."""
    app = FastAPI(title="CarbonLedger API", version="0.1.0",
                  description="Signed meter data, oracle-quorum anchoring and on-chain emissions accounting. "
                              "Errors: RFC 9457 problem details; see /v1/problems/{slug}.")
    app.state.ctx = AppContext(deployment, oracle_node)
    problems.install(app)
    app.include_router(readings.router)
    app.include_router(audit.router)

    @app.get("/v1/health", tags=["meta"], summary="Liveness and chain status")
    def health() -> dict[str, Any]:
        d = app.state.ctx.deployment
        return {"status": "ok", "chain_id": d.client.chain_id, "block": int(d.client.rpc("eth_blockNumber"), 16),
                "oracle_node": getattr(app.state.ctx.oracle_node, "name", None)}

    return app
