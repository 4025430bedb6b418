"""One oracle node of a cluster as its own process (started by ``carbonledger oracles up``):

    python -m scripts.oracle_node --name oracle-2 --data-dir D --rpc-url U --port 8102
                                  [--store-url URL] [--mqtt HOST:PORT] [--chunk N]
                                  [--alerts-url API_URL]   (key: $CARBONLEDGER_ORACLE_API_KEY)

Its own key (keystore label = name), its own store (SQLite ``D/oracles/<name>.sqlite`` or
``--store-url``), its own HTTP endpoint on 127.0.0.1 serving only the oracle routes
(:func:`create_node_app`: ``POST /v1/readings``, the peer routes ``/v1/oracle/...`` with the
proofs ``/v1/oracle/proofs/{device}/{sequence}``, ``GET /v1/health``), optionally an MQTT
subscription; it may submit (any node may: see oracles/network.py). With ``--alerts-url`` the
regulator's meter-stream rules run on the readings it accepts and each new alert is posted to the
API (:mod:`oracles.alert_feed`; an ORACLE_ROLE API key in ``CARBONLEDGER_ORACLE_API_KEY``). On start it re-sends
journalled transactions the chain lacks (after a chain restart) — the contract refuses any that
would anchor a period twice. The participants' API (:func:`api.app.create_app`) is another process.

Fault injection (a node that lies) is a test double in tests/oracle_doubles.py, run through
:func:`main`'s ``node_cls``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from api import problems, readings
from ledger.contracts.deployment import Deployment
from oracles import peer_http
from oracles.alert_feed import feed_for
from oracles.cluster import NODE_MODULE
from oracles.mqtt import MqttIngest
from oracles.network import AnchorService, Cluster
from oracles.node import OracleNode
from oracles.runtime import open_oracle_node
from oracles.submitter import Submitter


@dataclass
class NodeContext:
    """What a node process holds (``app.state.ctx``): its deployment and its oracle node — the
    ``oracle_node`` the readings route (:func:`api.deps.oracle_node`) and the peer routes read."""

    deployment: Deployment
    oracle_node: OracleNode


def create_node_app(deployment: Deployment, node: OracleNode, anchor_service: AnchorService | None = None) -> FastAPI:
    """The HTTP app of one oracle node: readings ingestion, proofs, health and — in a cluster —
    the peer routes; nothing of the participants' API (no keys, no records, no portal).

    Args:
        deployment: the chain and contracts the node anchors to.
        node: the node (its store serves readings and proofs).
        anchor_service: the node's place in its cluster (peer routes ``/v1/oracle/{info,reports,
            corrections,anchored,anchor,conflicts}``); None: a lone node, no peer routes.
    """
    app = FastAPI(title=f"CarbonLedger oracle node {node.name}", version="1.0.0",
                  description="Device-signed readings in (POST /v1/readings), signed batch reports, anchor rounds "
                              "and Merkle proofs between the oracle nodes of a cluster (/v1/oracle/...).")
    app.state.ctx = NodeContext(deployment, node)
    problems.install(app)
    app.include_router(readings.router)
    app.include_router(peer_http.proofs)
    if anchor_service is not None:
        app.state.anchor_service = anchor_service
        app.include_router(peer_http.router)

    @app.get("/v1/health", tags=["meta"], summary="Liveness and chain status")
    def health() -> dict[str, Any]:
        c = deployment.client
        return {"status": "ok", "chain_id": c.chain_id, "block": int(c.rpc("eth_blockNumber"), 16), "oracle_node": node.name}

    return app


def main(argv: list[str] | None = None, node_cls: type[OracleNode] = OracleNode) -> None:
    """Run the node until SIGTERM/SIGINT.

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).
        node_cls: the node class (tests pass a faulty double; production runs :class:`OracleNode`).
    """
    ap = argparse.ArgumentParser(prog=f"python -m {NODE_MODULE}", description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--rpc-url", required=True)
    ap.add_argument("--port", required=True, type=int)
    ap.add_argument("--store-url", default=None)
    ap.add_argument("--mqtt", default=None, help="HOST:PORT of the MQTT broker")
    ap.add_argument("--chunk", type=int, default=64, help="anchors per JSON-RPC batch of transactions")
    ap.add_argument("--alerts-url", default=None,
                    help="participants' API base URL: post the alerts of the regulator's stream rules over accepted readings "
                         "(API key in $CARBONLEDGER_ORACLE_API_KEY)")
    a = ap.parse_args(argv)
    alerts_key = os.environ.get("CARBONLEDGER_ORACLE_API_KEY", "")
    if a.alerts_url and not alerts_key:
        ap.error("--alerts-url needs an ORACLE_ROLE API key in $CARBONLEDGER_ORACLE_API_KEY")
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {a.name} %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    data_dir = a.data_dir.resolve()
    dep, node = open_oracle_node(data_dir, a.name, a.rpc_url, a.store_url, node_cls=node_cls)
    client = dep.client
    client.add_account(node.signer.secret)
    resent = client.recover()
    if resent:
        logging.getLogger("carbonledger.oracles").info("re-sent %d journalled transactions", resent)
    cluster = Cluster.load(data_dir / "oracles" / "cluster.json")
    sub = Submitter(client, dep.anchor, node.address, dep.quorum, chunk=a.chunk, domain_separator=dep.domain.separator)
    app = create_node_app(dep, node, AnchorService(node, sub, cluster))
    ingest = None
    if a.mqtt:
        host, _, port = a.mqtt.rpartition(":")
        ingest = MqttIngest(node, host or "127.0.0.1", int(port)).start()
    node.workers.start()    # the check workers up before the first batch arrives (issue 14)
    feed = feed_for(node, a.alerts_url, alerts_key) if a.alerts_url else None
    try:
        uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning")   # returns on SIGTERM/SIGINT
    finally:
        if ingest is not None:
            ingest.stop()
        if feed is not None:
            feed.stop()
        node.close()        # stop the check worker processes


if __name__ == "__main__":
    main()
