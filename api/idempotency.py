"""``Idempotency-Key`` on every POST: the same key and body return the stored response; the
same key with another body is a 409 ``idempotency-conflict``; a concurrent duplicate is a 409
``idempotency-in-progress``. Keys are scoped per caller (API key, or signing account).
Server errors (5xx) are not stored, so the client may retry them."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

from api.problems import problem_response
from api.store import IdempotencyRecord

HEADER = "idempotency-key"


def _scope(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth:
        parts = auth.split(" ", 1)[-1].split("_", 2)
        return f"api-key:{parts[1]}" if len(parts) == 3 else "key:" + hashlib.sha256(auth.encode()).hexdigest()[:32]
    return f"account:{request.headers.get('x-cl-account', '').lower()}"


class IdempotencyMiddleware(BaseHTTPMiddleware):
    """Stores and replays POST responses by (caller, Idempotency-Key)."""

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
        with Session(engine) as s:
            rec = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.principal == scope, IdempotencyRecord.key == key)).first()
            if rec is not None:
                if rec.body_sha256 != digest or rec.method_path != where:
                    return problem_response("idempotency-conflict", f"Idempotency-Key {key!r} was used for another request", request.url.path)
                if rec.status_code is None:
                    return problem_response("idempotency-in-progress", f"a request with Idempotency-Key {key!r} is in progress", request.url.path)
                return Response(rec.response or "", status_code=rec.status_code, media_type=rec.media_type,
                                headers={"Idempotency-Replayed": "true"})
        try:
            with Session(engine) as s, s.begin():
                s.add(IdempotencyRecord(principal=scope, key=key, method_path=where, body_sha256=digest, created_at=int(time.time())))
        except IntegrityError:
            return problem_response("idempotency-in-progress", f"a request with Idempotency-Key {key!r} is in progress", request.url.path)
        response = await call_next(request)
        chunks = [c async for c in response.body_iterator]  # type: ignore[attr-defined]
        content = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
        with Session(engine) as s, s.begin():
            rec = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.principal == scope, IdempotencyRecord.key == key)).one()
            if response.status_code >= 500 or response.status_code in (401, 403):
                s.delete(rec)    # not a result: the client may retry with the same key
            else:
                # the Content-Type header, not ``response.media_type`` (None on call_next's streaming
                # response: a replay then had no Content-Type — found by schemathesis, ST104)
                ctype = response.headers.get("content-type") or response.media_type
                rec.status_code, rec.response, rec.media_type = response.status_code, content.decode(), (ctype or "")[:100] or None
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(content, status_code=response.status_code, headers=headers, media_type=response.media_type)
