"""One oracle node of a cluster as its own process (started by ``carbonledger oracles up``):

    python -m oracles.service --name oracle-2 --data-dir D --rpc-url U --port 8102
                              [--store-url URL] [--mqtt HOST:PORT] [--fault lie]

Its own key (keystore label = name), its own store (SQLite ``D/oracles/<name>.sqlite`` or
``--store-url``), its own HTTP endpoint on 127.0.0.1 (``POST /v1/readings``, proofs, and the peer
routes ``/v1/oracle/...``), optionally an MQTT subscription; it may submit (any node may: see
oracles/network.py). On start it re-sends journalled transactions the chain lacks (after a
chain restart) — the contract refuses any that would anchor a period twice.

``--fault lie`` is fault injection for the fault tests and drills only: the node signs a root
that is not its readings' (so the others must outvote and report it).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from ledger.crypto.primitives import keccak256
from ledger.meter_data.reading import batch_report_digest
from oracles.node import NodeReport, OracleNode


class LyingOracleNode(OracleNode):
    """FAULT INJECTION: signs, for every period, a report whose root is not its readings' root."""

    def build_report(self, device: bytes, start: int, end: int) -> NodeReport | None:
        honest = super().build_report(device, start, end)
        if honest is None:
            return None
        forged = replace(honest.report, root=keccak256(b"forged" + honest.report.root))
        digest = batch_report_digest(self.domain_separator, forged)
        return NodeReport(forged, digest, self.signer.sign_digest(digest), self.address, None)


def main(argv: list[str] | None = None) -> None:
    """Run the node until SIGTERM/SIGINT."""
    ap = argparse.ArgumentParser(prog="python -m oracles.service", description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--rpc-url", required=True)
    ap.add_argument("--port", required=True, type=int)
    ap.add_argument("--store-url", default=None)
    ap.add_argument("--mqtt", default=None, help="HOST:PORT of the MQTT broker")
    ap.add_argument("--fault", choices=["lie"], default=None)
    ap.add_argument("--chunk", type=int, default=64, help="anchors per JSON-RPC batch of transactions")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {a.name} %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)

    import uvicorn

    from api.app import create_app
    from ledger.store.db import make_engine, sqlite_url
    from oracles.network import AnchorService, Cluster
    from oracles.peer_http import router
    from oracles.runtime import open_oracle_node
    from oracles.submitter import Submitter

    data_dir = a.data_dir.resolve()
    dep, node = open_oracle_node(data_dir, a.name, a.rpc_url, a.store_url,
                                 node_cls=LyingOracleNode if a.fault == "lie" else OracleNode)
    client = dep.client
    client.add_account(node.signer.secret)
    resent = client.recover()
    if resent:
        logging.getLogger("carbonledger.oracles").info("re-sent %d journalled transactions", resent)
    cluster = Cluster.load(data_dir / "oracles" / "cluster.json")
    sub = Submitter(client, dep.anchor, node.address, dep.quorum, chunk=a.chunk, domain_separator=dep.domain.separator)
    app = create_app(dep, make_engine(sqlite_url(data_dir / "oracles" / f"{a.name}-api.sqlite")), node)
    app.include_router(router)
    app.state.anchor_service = AnchorService(node, sub, cluster)
    ingest = None
    if a.mqtt:
        from oracles.mqtt import MqttIngest
        host, _, port = a.mqtt.rpartition(":")
        ingest = MqttIngest(node, host or "127.0.0.1", int(port)).start()
    try:
        uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning")   # returns on SIGTERM/SIGINT
    finally:
        if ingest is not None:
            ingest.stop()
        node.close()        # stop the check worker processes


if __name__ == "__main__":
    main()
