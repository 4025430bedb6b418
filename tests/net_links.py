"""Links between the geth nodes of a test network that a test can cut and heal.

The nodes of ledger.network listen for peers on the loopback, so a cut cannot be made by taking
an interface down. Each pair of nodes (i, j), i < j, is connected instead through a loopback TCP
relay owned by the test: node i dials node j at the relay's port (``admin_addPeer`` with the
relay's address), the relay forwards the bytes to node j's P2P port. The nodes' direct links are
removed first (``admin_removePeer`` on both ends; it also drops the enode from the node's static
dial set, so nobody redials them). Cutting a link closes its relay's listening socket and every
connection through it; healing listens again on the same port and dials the peer again
(``admin_addPeer``), so the nodes reconnect at once instead of after geth's redial back-off.
Traffic never leaves the loopback.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ledger.chain.anvil import free_port


def wait_until_connected(connected: Callable[[int, int], bool], pairs: Iterable[tuple[int, int]],
                         timeout: float = 90.0) -> None:
    """Wait until ``connected(i, j)`` holds for each pair (relays or namespaces alike).

    Raises:
        TimeoutError: a pair is still apart after ``timeout`` seconds (naming the pairs)."""
    pairs = list(pairs)
    deadline = time.monotonic() + timeout
    while not all(connected(i, j) for i, j in pairs):
        if time.monotonic() > deadline:
            raise TimeoutError(f"links {[p for p in pairs if not connected(*p)]} not up after {timeout} s")
        time.sleep(0.2)


@dataclass
class Relay:
    """A TCP forwarder 127.0.0.1:``port`` → 127.0.0.1:``target`` that can be closed and reopened."""

    target: int
    port: int = field(default_factory=free_port)
    _server: socket.socket | None = None
    _conns: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self) -> None:
        """Listen on :attr:`port` and forward every connection."""
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(16)
        self._server = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                a, _ = srv.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                a.close()
                continue
            b.settimeout(None)
            with self._lock:
                self._conns += [a, b]
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()
            threading.Thread(target=self._pipe, args=(b, a), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        """Stop listening and cut every connection (the link is down)."""
        if self._server is not None:
            try:
                self._server.shutdown(socket.SHUT_RDWR)   # wakes the thread blocked in accept()
            except OSError:
                pass
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class Links:
    """Relayed links between every pair of nodes of a running ledger.network.Network."""

    def __init__(self, net: Any) -> None:
        self.net = net
        n = len(net.nodes)
        self.relays = {(i, j): Relay(net.nodes[j].spec.p2p_port) for i in range(n) for j in range(i + 1, n)}
        for r in self.relays.values():
            r.open()
        for a in net.nodes:                       # no direct links any more
            for b in net.nodes:
                if a is not b:
                    a.rpc("admin_removePeer", b.spec.enode)
        self._drop_direct_links()
        for (i, j) in self.relays:
            self._dial(i, j)
        self.wait_connected([(i, j) for i, j in self.relays])

    def _enode_via(self, i: int, j: int) -> str:
        return f"enode://{self.net.nodes[j].spec.enode_id}@127.0.0.1:{self.relays[(i, j)].port}"

    def _dial(self, i: int, j: int) -> None:
        self.net.nodes[i].rpc("admin_addPeer", self._enode_via(i, j))

    def _peers(self, i: int) -> set[str]:
        return {p["enode"].split("//", 1)[1].split("@", 1)[0] for p in self.net.nodes[i].rpc("admin_peers")}

    def _drop_direct_links(self, timeout: float = 60.0) -> None:
        """Until no node has a peer: a dial that was under way when its enode left the static set
        may still connect (inbound connections are accepted from anyone), so each connection
        still up is removed again by the address it came on."""
        deadline = time.monotonic() + timeout
        while True:
            peers = [(n, p["enode"]) for n in self.net.nodes for p in n.rpc("admin_peers")]
            if not peers:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"direct peer links did not close: {len(peers)} left")
            for n, enode in peers:
                n.rpc("admin_removePeer", enode)
                other = next(o for o in self.net.nodes if o.spec.enode_id in enode)
                other.rpc("admin_removePeer", n.spec.enode)
            time.sleep(0.3)

    def connected(self, i: int, j: int) -> bool:
        """Whether nodes i and j are peers (through their relay)."""
        return self.net.nodes[j].spec.enode_id in self._peers(i)

    def wait_connected(self, pairs: Iterable[tuple[int, int]], timeout: float = 90.0) -> None:
        """Wait until each pair is connected (healing converges within 90 s: issue 11)."""
        wait_until_connected(self.connected, pairs, timeout)

    def _pair(self, a: int, b: int) -> tuple[int, int]:
        return (a, b) if a < b else (b, a)

    def partition(self, *sides: Iterable[int]) -> list[tuple[int, int]]:
        """Cut every link between nodes of different ``sides`` (0-based node indexes); returns the
        cut pairs once no node has a peer on another side."""
        side_of = {n: k for k, side in enumerate(sides) for n in side}
        cut = [p for p in self.relays if side_of[p[0]] != side_of[p[1]]]
        for p in cut:
            self.relays[p].close()
        deadline = time.monotonic() + 30
        while any(self.connected(*p) for p in cut):
            if time.monotonic() > deadline:
                raise TimeoutError("partition did not take effect")
            time.sleep(0.1)
        return cut

    def heal(self) -> None:
        """Reopen every closed relay, dial again (``admin_addPeer``) and wait until every pair is connected."""
        for (i, j), r in self.relays.items():
            if r._server is None:
                r.open()
                self._dial(i, j)
        self.wait_connected(list(self.relays))

    def close(self) -> None:
        """Close every relay (end of test)."""
        for r in self.relays.values():
            r.close()
