"""The oracle network: n node processes, each with its own key, store and HTTP endpoint, any of
which may submit (issue 5; DESIGN.md §7).

Submission — rotation by round, with takeover. Anchoring is triggered per *round*: one device
and a run of consecutive periods (``POST /v1/oracle/anchor`` on every node, or a node's own
schedule). The round's primary submitter is node ``index(period) % n`` where ``index(period)`` is
``start // (end - start)`` of the round's first period and the node order is the cluster's
(``cluster.json``, the on-chain oracle set's order). A node of rank ``r = (i − primary) mod n``
waits ``r × takeover_s`` seconds, watching the chain; if the round's periods are anchored by then
it only records their batch ids, else it submits them itself. Periods of a device are anchored in
time order by every submitter (the contract refuses a period that starts before the device's last
anchored end, so anchoring out of order would lock a period out for ever); a submitter that
loses a race reads the batch id from the chain and records ``already_anchored``
(:class:`oracles.submitter.Submitter`). So a period is anchored once even when two submitters
overlap, and anchoring goes on while up to ``n − quorum`` nodes are down, lying or killed.

Lying nodes: a report whose digest differs from the quorum's is kept as evidence (signature,
digest, both roots) in the submitting node's ``signer_conflicts`` table and logged at WARNING;
``GET /v1/oracle/conflicts`` lists them.

After anchoring, a round also corrects: periods already anchored for which a quorum of nodes now
holds more readings (late readings) are superseded with a reason (:meth:`Submitter.correct_periods`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ledger.meter_data.reading import BatchReport
from oracles.node import NodeReport, OracleNode
from oracles.submitter import AnchorOutcome, Submitter

log = logging.getLogger("carbonledger.oracles")

#: Default seconds a node of rank r waits (× r) before taking a round over from the primary.
DEFAULT_TAKEOVER_S = 5.0


# ---------------------------------------------------------------------- wire forms
def report_to_json(r: NodeReport) -> dict[str, Any]:
    """Wire form of a signed report (hex strings; integers as JSON numbers)."""
    b = r.report
    return {"configDigest": "0x" + b.config_digest.hex(), "device": "0x" + b.device.hex(), "start": b.start, "end": b.end,
            "count": b.count, "totalWh": b.total_wh, "root": "0x" + b.root.hex(), "supersedes": "0x" + b.supersedes.hex(),
            "digest": "0x" + r.digest.hex(), "signature": "0x" + r.signature.hex(), "signer": r.signer,
            "anchoredBatchId": r.anchored_batch_id}


def _hx(v: Any) -> bytes:
    if not isinstance(v, str) or not v.startswith("0x"):
        raise ValueError(f"expected 0x-hex, got {v!r}")
    return bytes.fromhex(v[2:])


def report_from_json(d: dict[str, Any]) -> NodeReport:
    """Parse :func:`report_to_json`'s form. Raises ValueError/KeyError on malformed input."""
    b = BatchReport(_hx(d["configDigest"]), _hx(d["device"]), int(d["start"]), int(d["end"]), int(d["count"]),
                    int(d["totalWh"]), _hx(d["root"]), _hx(d["supersedes"]))
    return NodeReport(b, _hx(d["digest"]), _hx(d["signature"]), str(d["signer"]), d.get("anchoredBatchId"))


def outcome_to_json(o: AnchorOutcome) -> dict[str, Any]:
    """Wire form of a period's outcome (what the anchor round did)."""
    return {"device": "0x" + o.device.hex(), "start": o.start, "end": o.end, "status": o.status, "batchId": o.batch_id,
            "root": "0x" + o.report.root.hex() if o.report else None, "signers": o.signers, "dissent": o.dissent,
            "reason": o.reason}


# ---------------------------------------------------------------------- cluster
@dataclass(frozen=True)
class Member:
    """One node of the cluster: its name, signing address and HTTP base URL."""

    name: str
    address: str
    url: str


@dataclass
class Cluster:
    """The cluster file (``<data dir>/oracles/cluster.json``): members in submitter order."""

    members: list[Member]
    takeover_s: float = DEFAULT_TAKEOVER_S

    def index(self, name: str) -> int:
        """Position of ``name``. Raises KeyError if it is no member."""
        for i, m in enumerate(self.members):
            if m.name == name:
                return i
        raise KeyError(name)

    def save(self, path: Path) -> None:
        """Write atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"members": [m.__dict__ for m in self.members], "takeover_s": self.takeover_s}, indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Cluster:
        """Read a cluster file. Raises FileNotFoundError, ValueError."""
        d = json.loads(path.read_text())
        return cls([Member(**m) for m in d["members"]], float(d.get("takeover_s", DEFAULT_TAKEOVER_S)))


class RemoteNode:
    """Another node of the cluster, over its HTTP endpoint (a :class:`ReportSource`).

    Every method raises ``httpx.HTTPError`` when the node is down or answers with an error.
    """

    def __init__(self, member: Member, timeout: float = 10.0) -> None:
        self.name, self.address, self.url = member.name, member.address, member.url.rstrip("/")
        self.http = httpx.Client(timeout=timeout)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        r = self.http.post(self.url + path, json=body)
        r.raise_for_status()
        return r.json()

    def build_report(self, device: bytes, start: int, end: int) -> NodeReport | None:
        d = self._post("/v1/oracle/reports", {"device": "0x" + device.hex(), "start": start, "end": end})
        return None if d is None else report_from_json(d)

    def build_correction(self, device: bytes, start: int, end: int, batch_id: int, anchored_root: bytes) -> NodeReport | None:
        d = self._post("/v1/oracle/corrections", {"device": "0x" + device.hex(), "start": start, "end": end,
                                                 "batchId": batch_id, "anchoredRoot": "0x" + anchored_root.hex()})
        return None if d is None else report_from_json(d)

    def mark_anchored(self, device: bytes, start: int, config_digest: bytes, batch_id: int, supersedes: bytes = bytes(32)) -> None:
        self._post("/v1/oracle/anchored", {"device": "0x" + device.hex(), "start": start, "configDigest": "0x" + config_digest.hex(),
                                           "batchId": batch_id, "supersedes": "0x" + supersedes.hex()})


def primary_index(periods: Sequence[tuple[int, int]], n: int) -> int:
    """The round's primary submitter: ``start // (end − start)`` of its first period, mod n."""
    s, e = periods[0]
    return (s // (e - s)) % n


class AnchorService:
    """Runs anchor rounds for one node of the cluster (see the module docstring).

    Args:
        node: this node (in-process).
        submitter: chain access with this node's key (an Active oracle account).
        cluster: the members, this node among them (by ``node.name``).
        peer: builds the :class:`RemoteNode` of a member (tests inject one).
    """

    def __init__(self, node: OracleNode, submitter: Submitter, cluster: Cluster,
                 peer: Callable[[Member], Any] = RemoteNode) -> None:
        self.node, self.submitter, self.cluster = node, submitter, cluster
        self.index = cluster.index(node.name)
        self.peers = [node if m.name == node.name else peer(m) for m in cluster.members]
        self._lock = threading.Lock()   # one round at a time per node

    def rank(self, periods: Sequence[tuple[int, int]]) -> int:
        """0 if this node is the round's primary submitter, else its place in the takeover order."""
        return (self.index - primary_index(periods, len(self.cluster.members))) % len(self.cluster.members)

    def _all_anchored(self, device: bytes, periods: Sequence[tuple[int, int]]) -> bool:
        return all(self.submitter._batch_ids(device, [s for s, _ in periods]))

    def run_round(self, device: bytes, periods: Sequence[tuple[int, int]], correct: bool = True,
                  wait_s: float | None = None) -> list[AnchorOutcome]:
        """Anchor ``periods`` of ``device`` (consecutive, in time order) and correct anchored ones.

        Waits ``rank × takeover_s`` first (``wait_s`` overrides), returning early once the chain
        holds every period. Conflicting signers seen are recorded in this node's store.
        Returns one outcome per period (then one per correction attempted, status ``corrected``
        / ``already_corrected`` only).
        """
        periods = sorted(periods)
        if not periods:
            return []
        delay = self.rank(periods) * self.cluster.takeover_s if wait_s is None else wait_s
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if self._all_anchored(device, periods):
                break
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        with self._lock:
            outcomes = self.submitter.anchor_periods(self.peers, device, periods)
            for o in outcomes:
                self._record(o)
            if correct:
                done = [(o.start, o.end) for o in outcomes if o.status in ("anchored", "already_anchored")]
                fixes = self.submitter.correct_periods(self.peers, device, done, local=self.node) if done else []
                for o in fixes:
                    self._record(o)
                outcomes += [o for o in fixes if o.status in ("corrected", "already_corrected")]
        for o in outcomes:
            log.info("%s: %s %s..%s %s batch %s signers %d", self.node.name, o.device.hex()[:8], o.start, o.end,
                     o.status, o.batch_id, len(o.signers))
        return outcomes

    def _record(self, o: AnchorOutcome) -> None:
        if o.report is None or o.digest is None:
            return
        for d in o.conflicts:
            if self.node.record_conflict(d.node, d.signer, d.report, d.digest, d.signature, o.report, o.digest):
                log.warning("signer conflict: %s (%s) signed root 0x%s for %s [%s, %s), the quorum root is 0x%s",
                            d.node, d.signer, d.report.root.hex(), o.device.hex()[:8], o.start, o.end, o.report.root.hex())


@dataclass
class RoundRequest:
    """A parsed ``POST /v1/oracle/anchor`` body."""

    device: bytes
    periods: list[tuple[int, int]] = field(default_factory=list)
    correct: bool = True
