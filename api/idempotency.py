"""``Idempotency-Key`` on every POST: the same key and body return the stored response; the
same key with another body (or route) is a 409 ``idempotency-conflict``, whatever state the key is
in; a concurrent duplicate is a 409 ``idempotency-in-progress``. Keys are scoped per caller (API
key, or signing account).

A key never stays in progress after the request that took it has died (issue 10, retries that
recover):

* **Lease.** The request holding a key owns it (``owner`` token) until ``lease_until_ms``, renewed
  every third of :func:`lease_seconds` while it runs (env ``CARBONLEDGER_IDEMPOTENCY_LEASE_S``,
  default :data:`DEFAULT_LEASE_S`). A process killed mid-request stops renewing it.
* **Tagged transactions.** While it runs, the chain client journals every transaction it signs
  with :func:`tag` of (caller, key) (:data:`ledger.chain.client.journal_tag`).
* **Failure.** A 5xx answer, or an exception (answered by the catch-all ``internal-error`` problem,
  :mod:`api.problems`), releases the key when nothing was journalled under it — the retry is a
  first attempt; if transactions were journalled, the lease is ended at once so the retry takes over.
* **Takeover.** A retry with the same body after the lease authenticates the caller, claims the key
  (compare-and-set on the old owner and lease), and *finishes the journalled transactions* of the
  key — re-sending the same signed bytes of those the node does not know, waiting for their
  receipts (:meth:`ledger.chain.client.ChainClient.finish`) — then answers from those receipts with
  the route's completion function (:data:`api.completions.COMPLETIONS`); the route handler is never
  run again. A reverted transaction answers ``contract-refused`` as the handler would have; a route
  without a completion answers ``idempotency-unanswerable`` with the transactions. With nothing
  journalled under the key, the dead request never reached the chain and the handler runs as a
  first attempt.

401/403 and 5xx answers are not stored (the client may retry them); other answers are, once, by
the request that still owns the key (a request that lost its lease to a takeover stores nothing).

Test hook (harmless in production: unset by default): with env :data:`TEST_HOOK_ENV` set to
``journalled`` or ``sent``, the process prints ``IDEMPOTENCY-HOOK <stage> <tx hashes>`` on stdout
when a transaction of a request with an ``Idempotency-Key`` reaches that stage (in the journal, not
yet sent / accepted by the node) and then blocks until a line arrives on its stdin — so a test can
SIGKILL the process, or stop the chain node, at exactly that point.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

from api.auth import Principal, authenticate_retry
from api.problems import Problem, problem_response
from api.store import IdempotencyRecord
from ledger.chain.client import ChainClient, ChainError, ContractRevert, TxResult, journal_tag

HEADER = "idempotency-key"
#: Environment variable: seconds a request holds its key without renewing it.
LEASE_ENV = "CARBONLEDGER_IDEMPOTENCY_LEASE_S"
#: Default lease (s): a few heartbeats of a live request; a dead one's key is free this long after.
DEFAULT_LEASE_S = 10.0
#: Environment variable of the test hook (see the module docstring): ``journalled`` or ``sent``.
TEST_HOOK_ENV = "CARBONLEDGER_IDEMPOTENCY_TEST_HOOK"
TEST_HOOK_STAGES = ("journalled", "sent")


def lease_seconds() -> float:
    """The lease from :data:`LEASE_ENV` (default :data:`DEFAULT_LEASE_S`).

    Raises:
        ValueError: if the variable is not a number in [0.5, 3600].
    """
    raw = os.environ.get(LEASE_ENV)
    if raw is None:
        return DEFAULT_LEASE_S
    value = float(raw)
    if not 0.5 <= value <= 3600:
        raise ValueError(f"{LEASE_ENV} must be between 0.5 and 3600 seconds, got {raw!r}")
    return value


def tag(scope: str, key: str) -> str:
    """The journal tag of (caller scope, Idempotency-Key): SHA-256 hex, 64 characters."""
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


@dataclass(frozen=True)
class Recovered:
    """What a completion function gets: the retried request and the receipts of the transactions
    the dead request journalled under its key (mined, status 1, in sender-and-nonce order).

    Attributes:
        ctx: the application context (:class:`api.deps.AppContext`).
        principal: the authenticated caller (the same caller that took the key).
        path_params: the route's path parameters, as strings.
        body: the raw request body (equal, by SHA-256, to the dead request's body).
        results: one :class:`TxResult` per journalled transaction.
    """

    ctx: Any
    principal: Principal
    path_params: Mapping[str, str]
    body: bytes
    results: list[TxResult]

    @property
    def last(self) -> TxResult:
        """The last transaction (the single one, for routes that send one)."""
        return self.results[-1]


#: A completion: builds, from the receipts, the answer the route's handler would have given.
Completion = Callable[[Recovered], Any]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _scope(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth:
        parts = auth.split(" ", 1)[-1].split("_", 2)
        return f"api-key:{parts[1]}" if len(parts) == 3 else "key:" + hashlib.sha256(auth.encode()).hexdigest()[:32]
    return f"account:{request.headers.get('x-cl-account', '').lower()}"


class IdempotencyMiddleware(BaseHTTPMiddleware):
    """Stores and replays POST responses by (caller, Idempotency-Key); leases and takes over keys
    of dead requests (module docstring).

    Args:
        completions: route endpoint function -> its completion (:data:`api.completions.COMPLETIONS`).
    """

    def __init__(self, app: Any, completions: Mapping[Callable[..., Any], Completion] | None = None) -> None:
        super().__init__(app)
        self.completions = dict(completions or {})
        self.lease_ms = int(lease_seconds() * 1000)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        key = request.headers.get(HEADER)
        if request.method != "POST" or not key:
            return await call_next(request)
        if len(key) > 200:
            return problem_response("validation-error", "Idempotency-Key must be at most 200 characters", request.url.path,
                                    errors=[{"field": "header.Idempotency-Key", "message": "too long"}])
        engine = request.app.state.ctx.api_store
        body = await request.body()
        digest = hashlib.sha256(body).hexdigest()
        scope, where = _scope(request), f"POST {request.url.path}"
        token = secrets.token_hex(16)
        with Session(engine) as s:
            rec = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.principal == scope, IdempotencyRecord.key == key)).first()
            if rec is not None:
                s.expunge(rec)
        if rec is not None:
            # The scope above is read from headers only; a stored answer, a conflict or a takeover
            # is given only to a caller who proves that scope (API key secret or signature).
            refused = await _refuse_unauthenticated(request)
            if refused is not None:
                return refused
            if rec.body_sha256 != digest or rec.method_path != where:
                return problem_response("idempotency-conflict", f"Idempotency-Key {key!r} was used for another request", request.url.path)
            if rec.status_code is not None:
                return Response(rec.response or "", status_code=rec.status_code, media_type=rec.media_type,
                                headers={"Idempotency-Replayed": "true"})
            left_ms = (rec.lease_until_ms or 0) - _now_ms()
            if left_ms > 0:
                return _in_progress(key, request, left_ms)
            return await self._take_over(request, call_next, rec.id, rec.owner, rec.lease_until_ms, scope, key, body, token)
        try:
            with Session(engine) as s, s.begin():
                s.add(IdempotencyRecord(principal=scope, key=key, method_path=where, body_sha256=digest, created_at=int(time.time()),
                                        owner=token, lease_until_ms=_now_ms() + self.lease_ms))
        except IntegrityError:
            return _in_progress(key, request, self.lease_ms)
        return await self._run(request, call_next, scope, key, token)

    # ------------------------------------------------------------------ owning a key
    async def _run(self, request: Request, call_next: RequestResponseEndpoint, scope: str, key: str, token: str) -> Response:
        """Run the handler holding the key (lease renewed meanwhile), then store or release."""
        reset = journal_tag.set(tag(scope, key))
        try:
            async with self._lease(request, scope, key, token):
                response = await call_next(request)
                chunks = [c async for c in response.body_iterator]  # type: ignore[attr-defined]
        except BaseException:
            await run_in_threadpool(self._fail, request, scope, key, token)
            raise
        finally:
            journal_tag.reset(reset)
        content = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
        if response.status_code >= 500:
            await run_in_threadpool(self._fail, request, scope, key, token)
        elif response.status_code in (401, 403):
            await run_in_threadpool(self._release, request, scope, key, token)
        else:
            # the Content-Type header, not ``response.media_type`` (None on call_next's streaming
            # response: a replay then had no Content-Type — found by schemathesis, ST104)
            ctype = response.headers.get("content-type") or response.media_type
            await run_in_threadpool(self._store, request, scope, key, token, response.status_code, content, ctype)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(content, status_code=response.status_code, headers=headers, media_type=response.media_type)

    def _lease(self, request: Request, scope: str, key: str, token: str) -> Any:
        """Async context: renew the key's lease every third of the lease while the body runs."""
        engine, lease_ms = request.app.state.ctx.api_store, self.lease_ms

        def renew() -> None:
            with Session(engine) as s, s.begin():
                s.execute(update(IdempotencyRecord).where(IdempotencyRecord.principal == scope, IdempotencyRecord.key == key,
                                                          IdempotencyRecord.owner == token, IdempotencyRecord.status_code.is_(None),
                                                          IdempotencyRecord.lease_until_ms > 0)   # an ended lease stays ended
                          .values(lease_until_ms=_now_ms() + lease_ms))

        class _Heartbeat:
            async def __aenter__(self) -> None:
                async def beat() -> None:
                    while True:
                        await asyncio.sleep(lease_ms / 3000)
                        try:
                            await run_in_threadpool(renew)
                        except Exception:  # noqa: BLE001 - a missed beat only shortens the lease
                            pass
                self.task = asyncio.ensure_future(beat())

            async def __aexit__(self, *exc: object) -> None:
                self.task.cancel()

        return _Heartbeat()

    def _owned(self, s: Session, scope: str, key: str, token: str) -> IdempotencyRecord | None:
        rec = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.principal == scope, IdempotencyRecord.key == key)).first()
        return rec if rec is not None and rec.owner == token and rec.status_code is None else None

    def _store(self, request: Request, scope: str, key: str, token: str, status: int, content: bytes, ctype: str | None) -> None:
        with Session(request.app.state.ctx.api_store) as s, s.begin():
            rec = self._owned(s, scope, key, token)
            if rec is not None:        # else a takeover owns the key now: its answer counts
                rec.status_code, rec.response, rec.media_type = status, content.decode(), (ctype or "")[:100] or None
                rec.lease_until_ms = None

    def _release(self, request: Request, scope: str, key: str, token: str) -> None:
        with Session(request.app.state.ctx.api_store) as s, s.begin():
            s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.principal == scope, IdempotencyRecord.key == key,
                                                      IdempotencyRecord.owner == token, IdempotencyRecord.status_code.is_(None)))

    def _fail(self, request: Request, scope: str, key: str, token: str) -> None:
        """Not a result: release the key, or, if transactions were journalled under it, end the
        lease now so that the next retry finishes them."""
        client: ChainClient = request.app.state.ctx.deployment.client
        if not client.tagged_transactions(tag(scope, key)):
            self._release(request, scope, key, token)
            return
        with Session(request.app.state.ctx.api_store) as s, s.begin():
            rec = self._owned(s, scope, key, token)
            if rec is not None:
                rec.lease_until_ms = 0

    # ------------------------------------------------------------------ takeover
    async def _take_over(self, request: Request, call_next: RequestResponseEndpoint, rec_id: int, old_owner: str | None,
                         old_lease: int | None, scope: str, key: str, body: bytes, token: str) -> Response:
        """Take over the key of a dead request (its lease ran out) — see the module docstring."""
        engine = request.app.state.ctx.api_store
        with Session(engine) as s, s.begin():
            claimed = s.execute(update(IdempotencyRecord).where(
                IdempotencyRecord.id == rec_id, IdempotencyRecord.status_code.is_(None),
                IdempotencyRecord.owner.is_(None) if old_owner is None else IdempotencyRecord.owner == old_owner,
                IdempotencyRecord.lease_until_ms.is_(None) if old_lease is None else IdempotencyRecord.lease_until_ms == old_lease,
            ).values(owner=token, lease_until_ms=_now_ms() + self.lease_ms)).rowcount
        if not claimed:
            return _in_progress(key, request, self.lease_ms)      # another retry took it first
        ctx = request.app.state.ctx
        client: ChainClient = ctx.deployment.client
        try:
            entries = await run_in_threadpool(client.tagged_transactions, tag(scope, key))
        except ChainError as exc:
            await run_in_threadpool(self._fail, request, scope, key, token)
            return problem_response("chain-unavailable", str(exc), request.url.path)
        if not entries:          # the dead request never reached the chain: this is a first attempt
            return await self._run(request, call_next, scope, key, token)
        try:
            async with self._lease(request, scope, key, token):
                response = await self._complete(request, Recovered(ctx, request.state.idempotency_principal, {}, body, []), entries)
        except ChainError as exc:
            await run_in_threadpool(self._fail, request, scope, key, token)
            return problem_response("chain-unavailable", str(exc), request.url.path)
        except BaseException:
            await run_in_threadpool(self._fail, request, scope, key, token)
            raise
        if response.status_code >= 500:
            await run_in_threadpool(self._fail, request, scope, key, token)
        else:
            await run_in_threadpool(self._store, request, scope, key, token, response.status_code, bytes(response.body),
                                    response.headers.get("content-type"))
        response.headers["Idempotency-Recovered"] = "true"
        return response

    async def _complete(self, request: Request, base: Recovered, entries: list[Any]) -> JSONResponse:
        """Finish ``entries`` and answer from their receipts with the route's completion."""
        path = request.url.path
        client: ChainClient = base.ctx.deployment.client
        results = await run_in_threadpool(client.finish, entries)
        txs = [{"tx_hash": r.tx_hash, "label": r.label, "status": r.status, "block": r.block_number} for r in results]
        reverted = next((r for r in results if r.status != 1), None)
        if reverted is not None:
            exc: ContractRevert = await run_in_threadpool(client.explain_revert, reverted)
            return problem_response("contract-refused", str(exc), path, error=exc.error, transactions=txs,
                                    args=[a.hex() if isinstance(a, bytes) else a if isinstance(a, (int, str, bool)) else str(a)
                                          for a in exc.args_])
        route, params = _route_of(request)
        completion = self.completions.get(getattr(route, "endpoint", None))
        if completion is None:
            return problem_response("idempotency-unanswerable", f"the transactions of this request were finished, but "
                                    f"POST {path} rebuilds no answer from receipts", path, transactions=txs)
        done = Recovered(base.ctx, base.principal, params, base.body, results)
        try:
            answer = await run_in_threadpool(completion, done)
        except Problem as exc:
            return problem_response(exc.slug, exc.detail, path, **exc.extra)
        return JSONResponse(jsonable_encoder(answer), status_code=getattr(route, "status_code", None) or 200)


def post_routes(app: Any) -> list[Any]:
    """The app's POST routes (objects with ``path``, ``path_regex``, ``endpoint``, ``status_code``),
    included routers walked: FastAPI ≥ 0.16x nests them (``effective_candidates``) instead of
    copying their routes into the app."""
    def walk(routes: Any) -> Any:
        for route in routes:
            nested = getattr(route, "effective_candidates", None)
            if callable(nested):
                yield from walk(nested())
            elif (getattr(route, "path_regex", None) is not None and "POST" in (getattr(route, "methods", None) or ())
                  and getattr(route, "endpoint", None) is not None):
                yield route
    return list(walk(app.router.routes))


def _route_of(request: Request) -> tuple[Any, dict[str, str]]:
    """The POST route serving ``request`` and its path parameters (strings); ``(None, {})`` if none."""
    path = request.scope.get("path", "")
    for route in post_routes(request.app):
        m = route.path_regex.match(path)
        if m:
            return route, {k: str(v) for k, v in m.groupdict().items()}
    return None, {}


async def _refuse_unauthenticated(request: Request) -> Response | None:
    """None when the request's caller authenticates (API key or EIP-712 signed request, role
    re-checked on-chain); else the problem response to send. A chain outage answers
    ``chain-unavailable`` (503) and leaves the key as it is for the next retry."""
    try:
        request.state.idempotency_principal = await authenticate_retry(request)
    except Problem as exc:
        return problem_response(exc.slug, exc.detail, request.url.path, **exc.extra)
    except ChainError as exc:
        return problem_response("chain-unavailable", str(exc), request.url.path)
    return None


def _in_progress(key: str, request: Request, left_ms: int) -> Response:
    retry = max(1, -(-left_ms // 1000))
    resp = problem_response("idempotency-in-progress", f"a request with Idempotency-Key {key!r} is in progress", request.url.path,
                            retry_after_s=retry)
    resp.headers["Retry-After"] = str(retry)
    return resp


def _test_hook(stage_wanted: str) -> Callable[[str, list[str]], None]:
    lock = threading.Lock()

    def hook(stage: str, hashes: list[str]) -> None:
        if stage != stage_wanted or journal_tag.get() is None:
            return
        with lock:
            print(f"IDEMPOTENCY-HOOK {stage} {' '.join(hashes)}", flush=True)
            sys.stdin.readline()
    return hook


def install(app: FastAPI, client: ChainClient, completions: Mapping[Callable[..., Any], Completion]) -> None:
    """Add the idempotency middleware with the routes' ``completions``; with :data:`TEST_HOOK_ENV`
    set, install the test hook on ``client`` (see the module docstring).

    Raises:
        ValueError: bad :data:`LEASE_ENV` or :data:`TEST_HOOK_ENV` value.
    """
    lease_seconds()
    stage = os.environ.get(TEST_HOOK_ENV)
    if stage:
        if stage not in TEST_HOOK_STAGES:
            raise ValueError(f"{TEST_HOOK_ENV} must be one of {TEST_HOOK_STAGES}, got {stage!r}")
        client.send_hook = _test_hook(stage)
    app.add_middleware(IdempotencyMiddleware, completions=completions)
