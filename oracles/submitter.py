"""Quorum submitter: gathers k-of-n oracle signatures over the same batch report and anchors it.

DESIGN.md §7 step 3. The submitter is itself an oracle operator's account (MeterDataAnchor
accepts ``anchor`` only from active oracles). It never anchors a batch twice: before sending it
asks the chain whether the period is already anchored (``batchIdByStart``) and, if so, records
the existing batch id; the contract refuses overlapping periods anyway. Reports whose signers
disagree (different roots for the same period) are reported, and the root that reaches the
quorum is the one anchored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.chain import Call, ChainClient
from ledger.crypto import BatchReport
from oracles.node import NodeReport


class ReportSource(Protocol):
    """An oracle node as the submitter sees it (in-process :class:`OracleNode` or a remote one)."""

    name: str

    def build_report(self, device: bytes, start: int, end: int) -> NodeReport | None: ...

    def mark_anchored(self, device: bytes, start: int, config_digest: bytes, batch_id: int) -> None: ...


@dataclass
class AnchorOutcome:
    """What happened to one period: ``anchored``, ``already_anchored``, ``empty`` or ``no_quorum``."""

    device: bytes
    start: int
    end: int
    status: str
    batch_id: int | None = None
    report: BatchReport | None = None
    signers: list[str] = field(default_factory=list)
    dissent: list[str] = field(default_factory=list)   # nodes that signed another root


def _report_tuple(r: BatchReport) -> tuple[Any, ...]:
    return (r.config_digest, r.device, r.start, r.end, r.count, r.total_wh, r.root, r.supersedes)


class Submitter:
    """Anchors batch reports for which a quorum of oracle nodes signed the same digest.

    Args:
        client: chain client holding the submitter's key.
        anchor: web3 contract object of MeterDataAnchor.
        sender: the submitter's (oracle's) address.
        quorum: callable returning the current on-chain quorum.
        chunk: how many anchors go into one JSON-RPC batch of transactions.
    """

    def __init__(self, client: ChainClient, anchor: Any, sender: str, quorum: Callable[[], int], chunk: int = 64) -> None:
        self.client, self.anchor, self.sender, self.quorum, self.chunk = client, anchor, sender, quorum, chunk

    def collect(self, nodes: Sequence[ReportSource], device: bytes, start: int, end: int) -> AnchorOutcome:
        """Ask every node for its signed report of the period and find a quorum."""
        by_digest: dict[bytes, list[NodeReport]] = defaultdict(list)
        names: dict[bytes, list[str]] = defaultdict(list)
        for node in nodes:
            try:
                rep = node.build_report(device, start, end)
            except Exception as exc:  # noqa: BLE001 - a node that is down or broken does not stop the others
                names[b"error"].append(f"{node.name}: {exc}")
                continue
            if rep is not None:
                by_digest[rep.digest].append(rep)
                names[rep.digest].append(node.name)
        if not by_digest:
            return AnchorOutcome(device, start, end, "empty")
        best = max(by_digest, key=lambda d: len(by_digest[d]))
        dissent = [n for d, ns in names.items() if d != best for n in ns]
        reps = by_digest[best]
        if len(reps) < self.quorum():
            return AnchorOutcome(device, start, end, "no_quorum", report=reps[0].report,
                                 signers=[r.signer for r in reps], dissent=dissent)
        out = AnchorOutcome(device, start, end, "ready", report=reps[0].report, signers=[r.signer for r in reps], dissent=dissent)
        out._signatures = [r.signature for r in reps]  # type: ignore[attr-defined]
        return out

    def anchor_periods(self, nodes: Sequence[ReportSource], device: bytes, periods: Sequence[tuple[int, int]],
                       progress: Callable[[int], None] | None = None) -> list[AnchorOutcome]:
        """Anchor every period of ``device`` that a quorum signed; idempotent across restarts.

        Returns one outcome per period, in order.
        """
        outcomes: list[AnchorOutcome] = []
        for lo in range(0, len(periods), self.chunk):
            chunk = periods[lo:lo + self.chunk]
            existing = self.client.rpc_batch([("eth_call", [{"to": self.anchor.address, "data": self.anchor.functions.batchIdByStart(device, s)._encode_transaction_data()}, "latest"]) for s, _ in chunk])
            todo: list[AnchorOutcome] = []
            for (s, e), ex in zip(chunk, existing):
                bid = int(ex["result"], 16) if ex.get("result") else 0
                o = self.collect(nodes, device, s, e)
                if bid:
                    o.status, o.batch_id = "already_anchored", bid
                    root = self.client.call(self.anchor.functions.batch(bid))
                    if o.report is not None:
                        for n in nodes:
                            n.mark_anchored(device, s, o.report.config_digest, bid)
                    del root
                elif o.status == "ready":
                    todo.append(o)
                outcomes.append(o)
            calls = [Call.of(self.anchor.functions.anchor(_report_tuple(o.report), o._signatures), self.sender,  # type: ignore[arg-type, attr-defined]
                             f"anchor {o.device.hex()[:8]} {o.start}") for o in todo]
            results = self.client.send(calls) if calls else []
            for o, res in zip(todo, results):
                ev = self.client.decode_events(self.anchor, "BatchAnchored", res)
                o.status, o.batch_id = "anchored", int(ev[0]["batchId"])
                for n in nodes:
                    n.mark_anchored(device, o.start, o.report.config_digest, o.batch_id)  # type: ignore[union-attr]
            if progress:
                progress(len(chunk))
        return outcomes
