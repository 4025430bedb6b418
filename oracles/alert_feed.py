"""An oracle node's early-warning feed (``--alerts-url``): the regulator's meter-stream rules run on
the readings the node accepts, as they arrive, and each new alert is posted to the participants'
API (``POST /v1/oracle/alerts``, ORACLE_ROLE key; idempotent by the alert's hash).

Off the ingest hot path: the node's :attr:`oracles.node.OracleNode.on_accepted` hook only puts the
committed rows on a queue (:meth:`AlertFeed.accepted`); a thread drains it, and for each device
with new readings evaluates the rules (:func:`oracles.stream_alerts.check_node_stream`) over the
node's stored stream of the last :attr:`AlertFeed.window_s` seconds before the newest reading — at
most once every :attr:`AlertFeed.min_interval_s` seconds, readings arriving meanwhile coalesced, so
the thread's share of the interpreter stays small however fast readings arrive.

Rules come from ``GET /v1/oracle/alert-rules`` (active ``stream_*`` rules scoped to one enterprise,
with its org id), refreshed every :attr:`AlertFeed.rules_ttl_s` seconds, and apply to the devices
the enterprise owns (DeviceRegistry owner). Only closed findings are posted: a stuck run still
running at the newest reading is posted once another value (or a gap) ends it — else its end, and
so its hash, would change with every reading. A failed evaluation or post is retried with the next
readings (the devices it covered are kept).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx

from ledger.alerts.checks import Alert, iso
from ledger.alerts.rules import Rule, rule_from_dict
from oracles.node import OracleNode
from oracles.stream_alerts import check_node_stream

log = logging.getLogger("carbonledger.oracles.alerts")
#: Default look-back of each evaluation, s: one day of a device's stream before its newest reading
#: (our choice: the default stream limits are ≤ 60 minutes, ledger/alerts/rules.py; UNCONFIRMED).
WINDOW_S = 86_400
#: Default seconds between re-reads of the regulator's rules.
RULES_TTL_S = 300.0
#: Default least seconds between two evaluations (an alert waits at most about this long; our choice).
MIN_INTERVAL_S = 1.0


class AlertFeed:
    """The feed of one node (see the module docstring).

    Args:
        node: the oracle node (its store and device directory).
        api_url: the participants' API base URL (``http://host:port``).
        api_key: an ORACLE_ROLE API key of the node's organisation.
        window_s: look-back of each evaluation, s.
        rules_ttl_s: seconds between re-reads of the rules.
        min_interval_s: least seconds between two evaluations (readings meanwhile are coalesced).
        http: an ``httpx.Client`` (tests may pass one bound to an app); default a new client.
    """

    def __init__(self, node: OracleNode, api_url: str, api_key: str, *, window_s: int = WINDOW_S,
                 rules_ttl_s: float = RULES_TTL_S, min_interval_s: float = MIN_INTERVAL_S,
                 http: httpx.Client | None = None) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must not be negative, got {min_interval_s}")
        self.node, self.window_s, self.rules_ttl_s, self.min_interval_s = node, window_s, rules_ttl_s, min_interval_s
        self.http = http or httpx.Client(base_url=api_url.rstrip("/"), timeout=10.0)
        self.http.headers["Authorization"] = f"Bearer {api_key}"
        self._queue: queue.SimpleQueue[list[tuple[object, ...]] | None] = queue.SimpleQueue()
        self._rules: list[tuple[bytes, Rule]] = []
        self._rules_at = -1e18
        self._posted: set[str] = set()
        self._retry: dict[bytes, tuple[int, int]] = {}   # device -> (oldest start, newest end) of a failed evaluation
        self._done: dict[bytes, int] = {}                # device -> newest reading end evaluated
        self._busy = threading.Event()
        self._thread: threading.Thread | None = None
        self.posted = 0            # alerts the API stored as new
        self.errors = 0            # failed rule reads or posts (retried with the next readings)

    # ------------------------------------------------------------------ hot path
    def accepted(self, rows: list[tuple[object, ...]]) -> None:
        """The node's ``on_accepted`` hook: queue the committed rows (O(1))."""
        self._busy.set()
        self._queue.put(rows)

    # ------------------------------------------------------------------ thread
    def start(self) -> AlertFeed:
        """Hook into the node and start the feed's thread."""
        self.node.on_accepted = self.accepted
        self._thread = threading.Thread(target=self._run, name=f"alert-feed-{self.node.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Unhook, finish what is queued, stop the thread."""
        self.node.on_accepted = None
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is evaluated and posted; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._busy.is_set() or not self._queue.empty():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _run(self) -> None:
        last = -1e18
        while True:
            item = self._queue.get()
            wait = last + self.min_interval_s - time.monotonic()
            if wait > 0 and item is not None:
                time.sleep(wait)             # coalesce what arrives meanwhile
            batches = [item]
            while not self._queue.empty():
                batches.append(self._queue.get())
            heads, self._retry = self._retry, {}
            for rows in batches:
                for row in rows or ():
                    dev, start, end = row[0], row[2], row[3]
                    assert isinstance(dev, bytes) and isinstance(start, int) and isinstance(end, int)
                    lo, hi = heads.get(dev, (start, end))
                    heads[dev] = (min(lo, start), max(hi, end))
            last = time.monotonic()
            try:
                self.evaluate(heads)
            except Exception:          # a feed failure never stops the node: logged, retried with the next readings
                self.errors += 1
                self._retry = heads
                log.exception("early-warning feed failed")
            finally:
                if self._queue.empty():
                    self._busy.clear()
            if any(b is None for b in batches):
                return

    # ------------------------------------------------------------------ work
    def rules(self) -> list[tuple[bytes, Rule]]:
        """(owner org id, rule) of the regulator's node rules, re-read every ``rules_ttl_s``."""
        if time.monotonic() - self._rules_at >= self.rules_ttl_s:
            r = self.http.get("/v1/oracle/alert-rules")
            r.raise_for_status()
            self._rules = [(bytes.fromhex(d["org_id"][2:]), rule_from_dict(d)) for d in r.json()["items"]]
            self._rules_at = time.monotonic()
        return self._rules

    def evaluate(self, heads: dict[bytes, tuple[int, int]]) -> list[Alert]:
        """Run the rules over each device's stream where readings arrived — ``heads[device]`` =
        (oldest start, newest end) of the new readings, UTC s — and post the closed alerts not
        posted yet; returns the alerts posted (new or already stored). The window runs from
        :attr:`window_s` before the oldest new reading (or before the newest end evaluated last
        time, if earlier: readings that arrive faster than real time are all covered) to the newest."""
        rules = self.rules()
        out: list[Alert] = []
        for device, (oldest, head) in heads.items():
            since = min(oldest, self._done.get(device, oldest)) - self.window_s
            info = self.node.devices.get(device)
            if info is None:
                continue
            mine = [r for org, r in rules if org == info.owner_org]
            by_scope: dict[str, list[Rule]] = {}
            for r in mine:
                by_scope.setdefault(r.scope, []).append(r)
            for scope, rs in by_scope.items():
                for o in check_node_stream(self.node.engine, device, scope, rs, since, head):
                    out += self._post([a for a in o.alerts if _closed(a, head)])
            self._done[device] = max(head, self._done.get(device, 0))
        return out

    def _post(self, alerts: Sequence[Alert]) -> list[Alert]:
        done = []
        for a in alerts:
            if a.hash in self._posted:
                continue
            r = self.http.post("/v1/oracle/alerts", json=a.as_dict())
            if r.status_code not in (200, 201):
                self.errors += 1
                log.warning("alert %s refused by the API: %s %s", a.hash, r.status_code, r.text[:300])
                continue
            self._posted.add(a.hash)
            self.posted += r.status_code == 201
            done.append(a)
        return done


def _closed(a: Alert, head: int) -> bool:
    """False for a stuck run that reaches the newest reading (it may still grow)."""
    return not (a.kind == "stream_stuck" and a.period_end >= iso(head))


def feed_for(node: OracleNode, api_url: str, api_key: str, **kw: Any) -> AlertFeed:
    """A started :class:`AlertFeed` of ``node`` (``scripts/oracle_node.py --alerts-url``)."""
    return AlertFeed(node, api_url, api_key, **kw).start()

