"""Test doubles of oracle nodes, run as node processes by the fault tests
(tests/test_oracle_network.py) through :func:`scripts.oracles_up.start_cluster`'s ``node_modules``:

    python -m tests.oracle_doubles --name oracle-4 ...   (the arguments of scripts.oracle_node)

runs a :class:`LyingOracleNode` — fault injection lives here, never in the product's node.
"""

from __future__ import annotations

from dataclasses import replace

from ledger.crypto.primitives import keccak256
from ledger.meter_data.reading import batch_report_digest
from oracles.node import NodeReport, OracleNode
from scripts.oracle_node import main

#: Module to run (``python -m``) for a lying node.
LYING_NODE_MODULE = "tests.oracle_doubles"


class LyingOracleNode(OracleNode):
    """FAULT INJECTION: signs, for every period, a report whose root is not its readings' root
    (so the honest nodes must outvote it and report it)."""

    def build_report(self, device: bytes, start: int, end: int) -> NodeReport | None:
        honest = super().build_report(device, start, end)
        if honest is None:
            return None
        forged = replace(honest.report, root=keccak256(b"forged" + honest.report.root))
        digest = batch_report_digest(self.domain_separator, forged)
        return NodeReport(forged, digest, self.signer.sign_digest(digest), self.address, None)


if __name__ == "__main__":
    main(node_cls=LyingOracleNode)
