"""RFC 9457 problem details: a fixed registry of problem types and the exception handlers.

Every error the API returns is ``application/problem+json`` with a ``type`` from
:data:`PROBLEM_TYPES`; ``GET /v1/problems/{slug}`` documents each type.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.chain.client import TRANSPORT_ERRORS, ChainError, ContractRevert

PROBLEM_BASE = "/v1/problems/"
_log = logging.getLogger("carbonledger.api")

#: slug -> (title, HTTP status, description)
PROBLEM_TYPES: dict[str, tuple[str, int, str]] = {
    "validation-error": ("Request validation failed", 422, "The request body, path or query did not match the schema; `errors` names each field."),
    "not-found": ("Resource not found", 404, "The requested batch, reading, record or route does not exist."),
    "contract-refused": ("The contract refused the operation", 409, "A pre-flight eth_call of the exact transaction reverted; `error` names the contract's custom error and `args` its data."),
    "chain-unavailable": ("Chain node unavailable", 503, "The JSON-RPC node did not answer or refused the request."),
    "not-an-oracle-node": ("This server runs no oracle node", 404, "POST /v1/readings is served only by a process that runs an oracle node."),
    "http-error": ("HTTP error", 400, "A generic HTTP error (see `detail`)."),
    "unauthenticated": ("Authentication required", 401, "No, an unknown or a malformed API key or request signature."),
    "key-revoked": ("API key revoked", 401, "The API key was revoked (or rotated: the detail names its replacement)."),
    "stale-request": ("Signed request outside the time window", 401, "X-CL-Timestamp is more than 300 s from the server's clock."),
    "replayed-request": ("Signed request replayed", 401, "This (account, nonce) pair was already used."),
    "participant-not-active": ("Participant not active", 403, "The account's organisation is not admitted and active with the key's role in ParticipantRegistry."),
    "wrong-role": ("Wrong role", 403, "The operation needs another on-chain role."),
    "not-permitted": ("Not permitted", 403, "The caller's role may use this operation, but not on another participant's data (e.g. another enterprise's carbon account)."),
    "idempotency-conflict": ("Idempotency key reused with another body", 409, "The Idempotency-Key was used before for a different request body."),
    "idempotency-in-progress": ("Request with this idempotency key in progress", 409, "A request with the same Idempotency-Key has not finished yet and holds its lease; retry after `retry_after_s` seconds (after the lease a retry takes the key over)."),
    "idempotency-unanswerable": ("Transactions finished, answer not rebuilt", 409, "The request holding this Idempotency-Key died after journalling its transactions; a retry finished them (`transactions`), but this route has no completion that rebuilds its answer from receipts. Read the outcome with the route's GET; the key keeps this answer."),
    "internal-error": ("Internal server error", 500, "The server failed unexpectedly; nothing about the failure is disclosed. The Idempotency-Key of the request is released (or, if it had journalled transactions, a retry finishes them)."),
    "no-custodial-key": ("No custodial key for this account", 409, "The API holds no key for the caller's account: submit a transaction signed by the account itself (`raw_transaction`)."),
    "invalid-transaction": ("Signed transaction not acceptable", 422, "The raw transaction does not decode, is not signed by the caller, or does not call what this endpoint expects."),
    "no-reference-price": ("No previous close for the price band", 409, "The asset has no settled listed trades before today in this service; give `reference_close_fen` (the exchange's published close)."),
    "exchange-rule-violation": ("Trade breaks the exchange rules", 422, "A trade of an atomic batch breaks a rule of the exchange rule set (china_rules.md §5); `trades` lists each trade's violations. Nothing was settled."),
    "no-anchored-data": ("No anchored meter data", 409, "The month has no anchored batch for the device."),
}


class Problem(Exception):
    """Raise in a route to answer with a problem document of registered type ``slug``."""

    def __init__(self, slug: str, detail: str, **extra: Any) -> None:
        if slug not in PROBLEM_TYPES:
            raise ValueError(f"unregistered problem type {slug!r}")
        self.slug, self.detail, self.extra = slug, detail, extra
        super().__init__(detail)


def problem_response(slug: str, detail: str, instance: str | None = None, status: int | None = None, **extra: Any) -> JSONResponse:
    """Build a problem+json response."""
    title, default_status, _ = PROBLEM_TYPES[slug]
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status or default_status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status or default_status, media_type="application/problem+json")


def install(app: FastAPI) -> None:
    """Register the exception handlers and the problem-type documentation route."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.slug, exc.detail, str(request.url.path), **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response("validation-error", detail, str(request.url.path), errors=errors)

    @app.exception_handler(ContractRevert)
    async def _revert(request: Request, exc: ContractRevert) -> JSONResponse:
        return problem_response("contract-refused", str(exc), str(request.url.path), error=exc.error,
                                args=[a.hex() if isinstance(a, bytes) else a if isinstance(a, (int, str, bool)) else str(a) for a in exc.args_])

    @app.exception_handler(ChainError)
    async def _chain(request: Request, exc: ChainError) -> JSONResponse:
        return problem_response("chain-unavailable", str(exc), str(request.url.path))

    async def _transport(request: Request, exc: Exception) -> JSONResponse:
        return problem_response("chain-unavailable", f"chain node unreachable: {type(exc).__name__}", str(request.url.path))

    for exc_type in TRANSPORT_ERRORS:   # outside ChainClient (which maps them itself): same answer
        app.add_exception_handler(exc_type, _transport)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # Starlette runs this outermost (ServerErrorMiddleware): the idempotency middleware has
        # already released the key. The trace goes to the log, never to the client.
        _log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response("internal-error", "the server failed unexpectedly", str(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = "not-found" if exc.status_code == 404 else "http-error"
        return problem_response(slug, str(exc.detail), str(request.url.path), status=exc.status_code)

    @app.get("/v1/problems/{slug}", tags=["meta"], summary="Describe a problem type")
    def describe(slug: str) -> dict[str, Any]:
        if slug not in PROBLEM_TYPES:
            raise Problem("not-found", f"no problem type {slug!r}")
        title, status, description = PROBLEM_TYPES[slug]
        return {"type": PROBLEM_BASE + slug, "title": title, "status": status, "description": description}
