"""JSON-RPC transport: several node URLs with fail-over, and the node's local IPC socket.

Only standard JSON-RPC travels over HTTP (DESIGN.md §3). A client given several URLs (one per
consortium node it may use) sends to the current one; when that node cannot be reached it moves to
the next, in order, and tells its owner (``on_failover``) before repeating the request there, so the
owner can first hand the new node what the old one held (the chain client re-sends the same signed
bytes of its unfinished journal entries). Node-administration APIs (``clique_*``, ``admin_*``) are
served by geth only over IPC (issue 11: "admin, clique and personal APIs only over IPC, never
HTTP"): :func:`ipc_call`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import httpx
import requests
from web3.exceptions import ProviderConnectionError, TimeExhausted


class ChainError(RuntimeError):
    """The node refused or failed a JSON-RPC request."""


class ChainUnavailable(ChainError):
    """No node could be reached or answered: connection refused or reset, a timeout, or a response
    that is not JSON-RPC, from every URL the client knows. Whatever was journalled before stays
    journalled (retry, or :meth:`ledger.chain.client.ChainClient.recover` once a node is back)."""


#: Transport failures of the HTTP clients under the chain client (httpx here, requests under
#: web3's HTTPProvider), mapped to :class:`ChainUnavailable`.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    httpx.TransportError, requests.exceptions.ConnectionError, requests.exceptions.Timeout,
    ProviderConnectionError, TimeExhausted, ConnectionError, TimeoutError)


def check_urls(urls: str | Sequence[str]) -> list[str]:
    """The URL list of a client: one URL or several, each ``http://`` or ``https://`` with a host.

    Raises:
        ValueError: the list is empty, a URL is not HTTP(S) with a host, or a URL repeats.
    """
    out = [urls] if isinstance(urls, str) else list(urls)
    if not out:
        raise ValueError("at least one JSON-RPC URL is needed, got an empty list")
    for u in out:
        p = urlparse(u) if isinstance(u, str) else None
        if p is None or p.scheme not in ("http", "https") or not p.hostname:
            raise ValueError(f"not an HTTP(S) JSON-RPC URL: {u!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"a JSON-RPC URL is listed twice: {out}")
    return out


class Endpoints:
    """The node URLs of one client and which one is in use.

    Args:
        urls: one URL or several (:func:`check_urls`); the first is used first.
        timeout: seconds per HTTP request.
        on_failover: called as ``on_failover(new_url)`` after switching to ``new_url`` and before
            the failed request is repeated there.
    """

    def __init__(self, urls: str | Sequence[str], timeout: float = 120.0,
                 on_failover: Callable[[str], None] | None = None) -> None:
        self.urls = check_urls(urls)
        self.index = 0
        self.http = httpx.Client(timeout=timeout)
        self.on_failover = on_failover
        #: (from URL, to URL) of every fail-over, in order.
        self.failovers: list[tuple[str, str]] = []

    @property
    def current(self) -> str:
        """The URL in use."""
        return self.urls[self.index]

    def post_to(self, url: str, payload: Any, what: str) -> Any:
        """POST a JSON-RPC payload to one URL, no fail-over.

        Raises:
            ChainUnavailable: transport failure or a non-JSON answer.
        """
        try:
            return self.http.post(url, json=payload).json()
        except TRANSPORT_ERRORS as exc:
            raise ChainUnavailable(f"{what}: chain node at {url} unreachable: {type(exc).__name__}: {exc}") from exc
        except ValueError as exc:          # JSONDecodeError: a proxy's error page, a half-closed socket
            raise ChainUnavailable(f"{what}: chain node at {url} did not answer JSON-RPC: {exc}") from exc

    def post(self, payload: Any, what: str) -> Any:
        """POST to the current URL; if it is unreachable, fail over to the next ones in turn.

        Raises:
            ChainUnavailable: no URL answered (the message names each failure).
        """
        errors = []
        for _ in range(len(self.urls)):
            url = self.current
            try:
                return self.post_to(url, payload, what)
            except ChainUnavailable as exc:
                errors.append(str(exc))
                if len(self.urls) == 1:
                    raise
            self.index = (self.index + 1) % len(self.urls)
            self.failovers.append((url, self.current))
            if self.on_failover is not None:
                try:
                    self.on_failover(self.current)
                except ChainUnavailable as exc:
                    errors.append(f"after fail-over to {self.current}: {exc}")
        raise ChainUnavailable("; ".join(errors))

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()


def ipc_call(path: str, method: str, *params: Any, timeout: float = 10.0) -> Any:
    """One JSON-RPC request over a node's IPC socket (geth's ``geth.ipc``).

    Raises:
        ChainUnavailable: the socket cannot be reached or the answer is not JSON.
        ChainError: the node answered with an error.
    """
    payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    buf = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(payload)
            decoder = json.JSONDecoder()
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    raise ChainUnavailable(f"{method}: IPC socket {path} closed before answering")
                buf += chunk
                try:
                    body, _ = decoder.raw_decode(buf.decode())
                    break
                except ValueError:
                    continue
    except OSError as exc:
        raise ChainUnavailable(f"{method}: IPC socket {path} unreachable: {exc}") from exc
    if "error" in body:
        raise ChainError(f"{method}: {body['error']}")
    return body["result"]
