"""Quorum submitter: gathers k-of-n oracle signatures over the same batch report and anchors it.

DESIGN.md §7 step 3. The submitter is itself an oracle operator's account (MeterDataAnchor
accepts ``anchor`` only from active oracles). It never anchors a batch twice: before sending it
asks the chain whether the period is already anchored (``batchIdByStart``) and, if so, records
the existing batch id; the contract refuses overlapping periods anyway. Reports whose signers
disagree (different roots for the same period) are reported, and the root that reaches the
quorum is the one anchored.

Several submitters may run at once (any oracle node may submit, oracles/network.py): one that
loses the race — the contract refuses its anchor with ``PeriodOverlaps`` or its mined transaction
reverted — reads the period's batch id from the chain and records ``already_anchored``, not an
error. With a ``domain_separator``, every report a node returns is checked before it counts: its
digest is recomputed and its signature must recover to that node's address (a report that
fails this is treated like an answer from a node that is down).

Late readings (oracles/node.py) are anchored by :meth:`Submitter.correct_periods`: a quorum of
correcting reports supersedes the period's latest batch with a reason hash; the old root stays
on-chain.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.chain.client import Call, ChainClient, ContractRevert
from ledger.contracts._generated.meter_data_anchor import BatchAnchored
from ledger.crypto.primitives import InvalidSignature, address_bytes, keccak256, recover_address_bytes
from ledger.meter_data.reading import BatchReport, batch_report_digest
from oracles.node import NodeReport

log = logging.getLogger("carbonledger.submitter")

#: Fault-drill hook (tests/test_oracle_network.py): when this environment variable names a file
#: that does not exist yet, the submitter, once the first chunk of a round is on-chain (its anchor
#: transactions mined, or the periods found anchored by another submitter), writes
#: ``{"pid": ..., "anchored": [batch ids of the chunk]}`` there and holds for ``HOLD_S`` seconds, so
#: a drill can SIGKILL the process at that known point of a round (mid-round) instead of racing a poll.
HOLD_ENV = "CARBONLEDGER_DRILL_HOLD_AFTER_FIRST_ANCHOR"
HOLD_S = 120.0


def _drill_hold_point(anchored: list[int]) -> None:
    """The :data:`HOLD_ENV` hook; does nothing unless the variable is set (drills only)."""
    path = os.environ.get(HOLD_ENV)
    if not path or os.path.exists(path):
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"pid": os.getpid(), "anchored": anchored}, f)
    os.replace(tmp, path)
    log.warning("drill: holding %s s after the first chunk of the round %s (%s)", HOLD_S, anchored, HOLD_ENV)
    time.sleep(HOLD_S)


class ReportSource(Protocol):
    """An oracle node as the submitter sees it (in-process :class:`OracleNode` or a remote one)."""

    name: str

    def build_report(self, device: bytes, start: int, end: int) -> NodeReport | None: ...

    def mark_anchored(self, device: bytes, start: int, config_digest: bytes, batch_id: int) -> None: ...


@dataclass
class Dissent:
    """A node whose signed report for the period differs from the quorum's (evidence kept)."""

    node: str
    signer: str
    report: BatchReport
    digest: bytes
    signature: bytes


@dataclass
class AnchorOutcome:
    """What happened to one period: ``anchored``, ``already_anchored``, ``empty``, ``no_quorum``,
    ``overtaken`` (a later period of the device was anchored first: this one can no longer be),
    and for corrections ``corrected``, ``already_corrected``, ``nothing_to_correct``."""

    device: bytes
    start: int
    end: int
    status: str
    batch_id: int | None = None
    report: BatchReport | None = None
    signers: list[str] = field(default_factory=list)
    dissent: list[str] = field(default_factory=list)   # nodes that signed another root
    conflicts: list[Dissent] = field(default_factory=list)  # their signed reports (evidence)
    digest: bytes | None = None                             # EIP-712 digest of the quorum report
    reason: dict[str, Any] | None = None                    # correction reason document (its keccak256 goes on-chain)


class Submitter:
    """Anchors batch reports for which a quorum of oracle nodes signed the same digest.

    Args:
        client: chain client holding the submitter's key.
        anchor: the MeterDataAnchor binding.
        sender: the submitter's (oracle's) address.
        quorum: callable returning the current on-chain quorum.
        chunk: how many anchors go into one JSON-RPC batch of transactions.
        domain_separator: EIP-712 domain separator of the anchor; if given, reports are checked
            (digest recomputed, signature recovers to the node's ``address``) before they count.
    """

    def __init__(self, client: ChainClient, anchor: Any, sender: str, quorum: Callable[[], int], chunk: int = 64,
                 domain_separator: bytes | None = None) -> None:
        self.client, self.anchor, self.sender, self.quorum, self.chunk = client, anchor, sender, quorum, chunk
        self.domain_separator = domain_separator

    def _checked(self, node: Any, rep: NodeReport) -> bool:
        """Whether ``rep`` is what ``node`` really signed (only with a domain separator)."""
        if self.domain_separator is None:
            return True
        if batch_report_digest(self.domain_separator, rep.report) != rep.digest:
            log.warning("%s returned a report whose digest does not match its content", node.name)
            return False
        want = getattr(node, "address", None) or rep.signer
        try:
            ok = recover_address_bytes(rep.digest, rep.signature) == address_bytes(want)
        except InvalidSignature:
            ok = False
        if not ok:
            log.warning("%s returned a report not signed by its key %s", node.name, want)
        return ok

    def _gather(self, nodes: Sequence[Any], device: bytes, start: int, end: int,
                ask: Callable[[Any], NodeReport | None]) -> AnchorOutcome:
        by_digest: dict[bytes, list[NodeReport]] = defaultdict(list)
        names: dict[bytes, list[str]] = defaultdict(list)
        for node in nodes:
            try:
                rep = ask(node)
            except Exception as exc:  # noqa: BLE001 - a node that is down or broken does not stop the others
                log.info("%s did not answer for %s %s: %s", node.name, device.hex()[:8], start, exc)
                continue
            if rep is not None and self._checked(node, rep):
                by_digest[rep.digest].append(rep)
                names[rep.digest].append(node.name)
        if not by_digest:
            return AnchorOutcome(device, start, end, "empty")
        best = max(by_digest, key=lambda d: len(by_digest[d]))
        dissent = [n for d, ns in names.items() if d != best for n in ns]
        conflicts = [Dissent(n, r.signer, r.report, r.digest, r.signature)
                     for d, reps_ in by_digest.items() if d != best for n, r in zip(names[d], reps_)]
        reps = by_digest[best]
        if len(reps) < self.quorum():
            return AnchorOutcome(device, start, end, "no_quorum", report=reps[0].report, signers=[r.signer for r in reps],
                                 dissent=dissent, conflicts=conflicts, digest=best)
        out = AnchorOutcome(device, start, end, "ready", report=reps[0].report, signers=[r.signer for r in reps],
                            dissent=dissent, conflicts=conflicts, digest=best)
        out._signatures = [r.signature for r in reps]  # type: ignore[attr-defined]
        return out

    def collect(self, nodes: Sequence[ReportSource], device: bytes, start: int, end: int) -> AnchorOutcome:
        """Ask every node for its signed report of the period and find a quorum."""
        return self._gather(nodes, device, start, end, lambda n: n.build_report(device, start, end))

    def _batch_ids(self, device: bytes, starts: Sequence[int]) -> list[int]:
        """``batchIdByStart(device, s)`` for every start (one JSON-RPC batch); 0 = not anchored."""
        fn = self.anchor.functions.batchIdByStart
        res = self.client.rpc_batch([("eth_call", [{"to": self.anchor.address, "data": "0x" + fn(device, s).data.hex()}, "latest"])
                                     for s in starts])
        return [int(r["result"], 16) if r.get("result") else 0 for r in res]

    def _settle_from_chain(self, nodes: Sequence[ReportSource], pending: list[AnchorOutcome]) -> list[AnchorOutcome]:
        """Mark the periods of ``pending`` that the chain holds as ``already_anchored`` (another
        submitter won the race); returns those still not anchored."""
        if not pending:
            return []
        left = []
        for o, bid in zip(pending, self._batch_ids(pending[0].device, [o.start for o in pending])):
            if bid:
                o.status, o.batch_id = "already_anchored", bid
                self._mark(nodes, o)
            else:
                left.append(o)
        return left

    @staticmethod
    def _mark(nodes: Sequence[Any], o: AnchorOutcome, supersedes: bytes = bytes(32)) -> None:
        if o.report is None or o.batch_id is None:
            return
        for n in nodes:
            try:
                if supersedes == bytes(32):
                    n.mark_anchored(o.device, o.start, o.report.config_digest, o.batch_id)
                else:
                    n.mark_anchored(o.device, o.start, o.report.config_digest, o.batch_id, supersedes)
            except Exception as exc:  # noqa: BLE001 - a node that is down learns it from the chain later
                log.info("could not tell %s that %s %s is batch %s: %s", getattr(n, "name", n), o.device.hex()[:8], o.start, o.batch_id, exc)

    def _send_anchors(self, nodes: Sequence[ReportSource], todo: list[AnchorOutcome]) -> None:
        """Anchor ``todo`` (in time order); a lost race is ``already_anchored``, not an error."""
        pending = list(todo)
        while pending:
            calls = [Call.of(self.anchor.functions.anchor(o.report, o._signatures), self.sender,  # type: ignore[arg-type, attr-defined]
                             f"anchor {o.device.hex()[:8]} {o.start}") for o in pending]
            try:
                results = self.client.send(calls, raise_on_revert=False)
            except ContractRevert as exc:
                if exc.error != "PeriodOverlaps":
                    raise
                left = self._settle_from_chain(nodes, pending)   # another submitter was first
                if len(left) == len(pending):    # a later period was anchored before these
                    head = left.pop(0)
                    head.status = "overtaken"
                    log.warning("period %s %s was overtaken by a later anchored period", head.device.hex()[:8], head.start)
                pending = left
                continue
            lost = []
            for o, res in zip(pending, results):
                if res.status == 1:
                    ev = self.anchor.decode_events(res, BatchAnchored)
                    o.status, o.batch_id = "anchored", ev[0].batchId
                    self._mark(nodes, o)
                else:
                    lost.append(o)
            for o in self._settle_from_chain(nodes, lost):
                o.status = "overtaken"
            pending = []

    def anchor_periods(self, nodes: Sequence[ReportSource], device: bytes, periods: Sequence[tuple[int, int]],
                       progress: Callable[[int], None] | None = None) -> list[AnchorOutcome]:
        """Anchor every period of ``device`` that a quorum signed; idempotent across restarts.

        Returns one outcome per period, in order.
        """
        outcomes: list[AnchorOutcome] = []
        stop = False
        for lo in range(0, len(periods), self.chunk):
            chunk = periods[lo:lo + self.chunk]
            existing = self._batch_ids(device, [s for s, _ in chunk])
            todo: list[AnchorOutcome] = []
            for (s, e), bid in zip(chunk, existing):
                if stop and not bid:
                    outcomes.append(AnchorOutcome(device, s, e, "no_quorum"))
                    continue
                o = self.collect(nodes, device, s, e)
                if bid:
                    o.status, o.batch_id = "already_anchored", bid
                    self._mark(nodes, o)
                elif o.status == "ready":
                    todo.append(o)
                elif o.status == "no_quorum":
                    # periods of a device are anchored in time order: anchoring a later one now
                    # would lock this one out for ever (PeriodOverlaps), so stop here
                    stop = True
                outcomes.append(o)
            self._send_anchors(nodes, todo)
            if lo == 0:
                _drill_hold_point([o.batch_id for o in outcomes if o.batch_id])
            if progress:
                progress(len(chunk))
        return outcomes

    def correct_periods(self, nodes: Sequence[Any], device: bytes, periods: Sequence[tuple[int, int]],
                        reason: str = "late readings received after the batch was anchored",
                        local: Any | None = None) -> list[AnchorOutcome]:
        """Supersede the anchored batch of every period for which a quorum of nodes signs the
        same correcting report (``build_correction``: their readings, late ones included, make
        another root). Periods not anchored, or with nothing to correct, are left alone.

        The reason document ``{"reason", "device", "start", "end", "supersedes", "count", "root"}``
        is returned in the outcome; keccak256 of its canonical JSON is the on-chain reasonHash.
        Returns one outcome per period: ``corrected``, ``already_corrected``,
        ``nothing_to_correct``, ``not_anchored`` or ``no_quorum``. With ``local`` (the
        submitter's own node), a period it has nothing to correct for is not asked of the others.
        """
        outcomes = []
        a = self.anchor.functions
        for (s, e), bid in zip(periods, self._batch_ids(device, [s for s, _ in periods])):
            if not bid:
                outcomes.append(AnchorOutcome(device, s, e, "not_anchored"))
                continue
            cur = int(self.client.call(a.currentBatch(bid)))
            root = self.client.call(a.batch(cur)).root
            if local is not None and local.build_correction(device, s, e, cur, root) is None:
                outcomes.append(AnchorOutcome(device, s, e, "nothing_to_correct"))
                continue
            o = self._gather(nodes, device, s, e, lambda n, cur=cur, root=root, s=s, e=e: n.build_correction(device, s, e, cur, root))
            if o.status == "empty":
                o.status = "nothing_to_correct"
            if o.status != "ready":
                outcomes.append(o)
                continue
            assert o.report is not None
            o.reason = {"reason": reason, "device": "0x" + device.hex(), "start": s, "end": e, "supersedes": cur,
                        "count": o.report.count, "root": "0x" + o.report.root.hex()}
            reason_hash = keccak256(json.dumps(o.reason, sort_keys=True, separators=(",", ":")).encode())
            call = Call.of(a.supersede(cur, o.report, o._signatures, reason_hash), self.sender,  # type: ignore[attr-defined]
                           f"supersede {device.hex()[:8]} {s}")
            try:
                res = self.client.send([call], raise_on_revert=False)[0]
                ok = res.status == 1
            except ContractRevert as exc:
                if exc.error not in ("AlreadySuperseded", "SupersedesMismatch"):
                    raise
                ok = False
            if ok:
                ev = self.anchor.decode_events(res, BatchAnchored)
                o.status, o.batch_id = "corrected", ev[0].batchId
            else:                                   # another submitter corrected it first
                o.status, o.batch_id = "already_corrected", int(self.client.call(a.currentBatch(bid)))
            self._mark(nodes, o, o.report.supersedes)
            outcomes.append(o)
        return outcomes
