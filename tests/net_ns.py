"""Network namespaces for the geth nodes of a fault test: links that a test cuts by taking
interfaces down (issue 11, "Faults, tested on the real network").

Topology made by :class:`Namespaces` (every name carries a random run id, so parallel runs and
leftovers never collide; :meth:`Namespaces.close` deletes all of it, also after a failure)::

    root namespace (the test)          hub namespace: bridge br0 (+ br1… while partitioned)
      r<i> 10.R.0.4i+1/30 ── rpc0 10.R.0.4i+2/30   node namespace i     p2p0 10.P.0.(i+1)/24 ── h<i> (port of br0)

Each node's namespace has two veth pairs: ``rpc0``, a point-to-point link to the test's namespace
(HTTP JSON-RPC is bound there, so the test reaches every node even while it is cut off), and
``p2p0``, plugged into a bridge in the hub namespace (devp2p goes only there). No namespace has a
default route and the hub has no address, so traffic stays inside what the test made. The IPC
socket is a file and works from every namespace.

A partition plugs the hub ports of each side but the first into a bridge of its own, after
taking them down (:meth:`Namespaces.partition`): the nodes' sends fail at once and each side can
reach only itself; the connections across the cut are dropped at once with ``admin_removePeer``
(geth would notice them only at its 30 s ping timeout). Healing plugs every port back into ``br0``, brings it up and dials every pair
again (``admin_addPeer``), waiting at most 90 s for all links.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterable
from typing import Any

from ledger.network import Placement
from tests.net_links import wait_until_connected


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *(["-n", ns] if ns else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    if check and proc.returncode != 0:
        raise OSError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc


def namespaces_refused() -> str | None:
    """None when this process may make network namespaces (``unshare -n true`` succeeds, as issue
    11 asks), else why not."""
    try:
        proc = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, check=False, timeout=30)
    except OSError as exc:
        return f"unshare -n true: {exc}"
    return None if proc.returncode == 0 else f"unshare -n true: exit {proc.returncode}: {proc.stderr.strip()}"


class Namespaces:
    """One namespace per node plus the hub (module docstring) for ``count`` nodes."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.run = secrets.token_hex(3)                    # interface names are at most 15 bytes
        octet = secrets.randbelow(200) + 20
        self.p2p_net, self.rpc_net = f"10.{octet}.0", f"10.{octet + 1}.0"
        self.hub = f"cl{self.run}-hub"
        self.ns = [f"cl{self.run}-n{i}" for i in range(count)]
        self.root_links: list[str] = []
        self.made: list[str] = []
        self.net: Any = None
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        for ns in (self.hub, *self.ns):
            _ip("netns", "add", ns)
            self.made.append(ns)
            _ip("link", "set", "lo", "up", ns=ns)
        _ip("link", "add", "br0", "type", "bridge", ns=self.hub)
        _ip("link", "set", "br0", "up", ns=self.hub)
        for i, ns in enumerate(self.ns):
            p, h = f"cl{self.run}p{i}", f"cl{self.run}h{i}"
            self.root_links += [p, h]
            _ip("link", "add", p, "type", "veth", "peer", "name", h)
            _ip("link", "set", p, "netns", ns, "name", "p2p0")
            _ip("link", "set", h, "netns", self.hub)
            _ip("link", "set", h, "master", "br0", "up", ns=self.hub)
            _ip("addr", "add", f"{self.p2p_host(i)}/24", "dev", "p2p0", ns=ns)
            _ip("link", "set", "p2p0", "up", ns=ns)
            r, q = f"cl{self.run}r{i}", f"cl{self.run}q{i}"
            self.root_links += [r, q]
            _ip("link", "add", r, "type", "veth", "peer", "name", q)
            _ip("link", "set", q, "netns", ns, "name", "rpc0")
            _ip("addr", "add", f"{self.rpc_net}.{4 * i + 1}/30", "dev", r)
            _ip("link", "set", r, "up")
            _ip("addr", "add", f"{self.rpc_host(i)}/30", "dev", "rpc0", ns=ns)
            _ip("link", "set", "rpc0", "up", ns=ns)

    def p2p_host(self, i: int) -> str:
        return f"{self.p2p_net}.{i + 1}"

    def rpc_host(self, i: int) -> str:
        return f"{self.rpc_net}.{4 * i + 2}"

    def placement(self) -> list[Placement]:
        """One placement per node, for ``Network.up(..., placement=...)``."""
        return [Placement(self.ns[i], self.p2p_host(i), self.rpc_host(i)) for i in range(self.count)]

    def attach(self, net: Any) -> None:
        """The running network whose links :meth:`partition` and :meth:`heal` act on."""
        self.net = net

    # ------------------------------------------------------------------ cutting and healing
    def connected(self, i: int, j: int) -> bool:
        """Whether nodes i and j are peers."""
        peers = {p["enode"].split("//", 1)[1].split("@", 1)[0] for p in self.net.nodes[i].rpc("admin_peers")}
        return self.net.nodes[j].spec.enode_id in peers

    def wait_connected(self, pairs: Iterable[tuple[int, int]], timeout: float = 90.0) -> None:
        """Wait until each pair is connected (healing converges within 90 s: issue 11)."""
        wait_until_connected(self.connected, pairs, timeout)

    def partition(self, *sides: Iterable[int]) -> list[tuple[int, int]]:
        """Cut every link between nodes of different ``sides`` (0-based node indexes): the hub ports
        of side k ≥ 1 go down and into bridge ``br<k>``, then up again; returns the cut pairs once no
        node has a peer on another side."""
        sides = [list(s) for s in sides]
        side_of = {n: k for k, side in enumerate(sides) for n in side}
        for k, side in enumerate(sides[1:], start=1):
            _ip("link", "add", f"br{k}", "type", "bridge", ns=self.hub, check=False)
            _ip("link", "set", f"br{k}", "up", ns=self.hub)
            for n in side:
                _ip("link", "set", "p2p0", "down", ns=self.ns[n])    # the cut: its sends fail from now on
                _ip("link", "set", f"cl{self.run}h{n}", "master", f"br{k}", ns=self.hub)
        for side in sides[1:]:
            for n in side:
                _ip("link", "set", "p2p0", "up", ns=self.ns[n])
                _ip("addr", "replace", f"{self.p2p_host(n)}/24", "dev", "p2p0", ns=self.ns[n])
        cut = [(i, j) for i in range(self.count) for j in range(i + 1, self.count) if side_of[i] != side_of[j]]
        # geth would notice a dead peer only at its 30 s ping timeout; drop those connections now
        # (admin_removePeer also takes the enode out of the static dial set: heal dials again).
        for i, j in cut:
            a, b = self.net.nodes[i], self.net.nodes[j]
            a.rpc("admin_removePeer", b.spec.enode)
            b.rpc("admin_removePeer", a.spec.enode)
        deadline = time.monotonic() + 90
        while any(self.connected(*p) for p in cut):
            if time.monotonic() > deadline:
                raise TimeoutError("partition did not take effect within 90 s")
            time.sleep(0.2)
        return cut

    def heal(self) -> None:
        """Every hub port back into ``br0``, dial every pair again (``admin_addPeer``) and wait
        until every pair is connected."""
        for i in range(self.count):
            _ip("link", "set", f"cl{self.run}h{i}", "master", "br0", ns=self.hub)
        pairs = [(i, j) for i in range(self.count) for j in range(i + 1, self.count)]
        for i, j in pairs:
            self.net.nodes[i].rpc("admin_addPeer", self.net.nodes[j].spec.enode)
        self.wait_connected(pairs)

    # ------------------------------------------------------------------ cleaning up
    def close(self) -> None:
        """Delete every namespace (their veths and bridges go with them) and any root-side veth
        left; stop the network first (a process still in a namespace keeps it alive)."""
        for ns in reversed(self.made):
            _ip("netns", "del", ns, check=False)
        self.made = []
        for link in self.root_links:
            _ip("link", "del", link, check=False)
