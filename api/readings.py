"""Oracle node ingestion: ``POST /v1/readings`` (DESIGN.md §7 step 2).

Hot route (issues 5 and 14, speed): a compact body (``{"readings":[{...},...]}``, no spaces) goes
to the node as raw bytes (:meth:`oracles.node.OracleNode.ingest_body`), which cuts it into pieces of
whole readings decoded, parsed and checked in its check worker processes — the node process keeps
the ordered part only. Any other body, or one those workers decline, is parsed here with
:func:`json.loads` and checked by a lean parser (:func:`parse_readings_fast`; both parsers are
:func:`oracles.checks.parse_wire_readings`) that accepts only bodies the pydantic
schema :class:`api.schemas.ReadingsIn` accepts unchanged (exact key sets, ``int`` values in range,
hex strings of the exact length); anything else goes through ``ReadingsIn`` itself, so every
refused body gets the same 422 ``validation-error`` problem, naming the same fields, as a body
declared the usual FastAPI way. The answer is serialised directly (same JSON as
:class:`api.schemas.ReadingsOut`). Measured by ``carbonledger bench ingest``.
"""

from __future__ import annotations

import email.message
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response

from api.deps import oracle_node
from api.schemas import ReadingsIn, ReadingsOut
from ledger.meter_data.reading import Reading
from oracles.checks import parse_wire_readings
from oracles.node import Ack, SignedReading

router = APIRouter(prefix="/v1", tags=["oracle node"])

_MAX_READINGS = ReadingsIn.model_fields["readings"].metadata


def _max_readings() -> int:
    for m in _MAX_READINGS:
        if getattr(m, "max_length", None) is not None:
            return int(m.max_length)
    raise RuntimeError("ReadingsIn.readings has no max_length")   # pragma: no cover


MAX_READINGS = _max_readings()


def parse_readings_fast(obj: Any) -> list[SignedReading] | None:
    """The readings of a decoded ``POST /v1/readings`` body, or None when the body is not in the
    plain form this parser accepts (the caller then validates it with ``ReadingsIn``).

    Accepts exactly: ``{"readings": [...]}`` with 1..MAX_READINGS items, each as
    :func:`oracles.checks.parse_wire_readings` accepts it. Every body it accepts, ``ReadingsIn``
    accepts with the same values (tests/test_bench.py checks both).
    """
    if type(obj) is not dict or len(obj) != 1:
        return None
    items = obj.get("readings")
    if type(items) is not list or not 1 <= len(items) <= MAX_READINGS:
        return None
    rows = parse_wire_readings(items)
    if rows is None:
        return None
    return [SignedReading(Reading(*row[:8]), row[8]) for row in rows]


def _validation_error(errors: list[Any]) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])


def _is_json(ctype: str | None) -> bool:
    if not ctype:
        return True
    if ctype == "application/json":
        return True
    m = email.message.Message()
    m["content-type"] = ctype
    main, sub = m.get_content_maintype(), m.get_content_subtype()
    return main == "application" and (sub == "json" or sub.endswith("+json"))


async def _read_batch(request: Request, raw: bytes) -> list[SignedReading]:
    """Decode and validate the body as FastAPI would for ``body: ReadingsIn`` (same 422 errors)."""
    is_json = _is_json(request.headers.get("content-type"))
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    obj: Any = raw
    if is_json:
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": e.msg}}]) from None
        except UnicodeDecodeError as e:      # not UTF-8/16/32 text at all (found by schemathesis)
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", e.start), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": f"body is not UTF-8 text: {e.reason}"}}]) from None
        fast = parse_readings_fast(obj)
        if fast is not None:
            return fast
    try:
        body = ReadingsIn.model_validate(obj)
    except ValidationError as exc:
        raise _validation_error(exc.errors()) from None
    return [SignedReading.from_json(r.model_dump()) for r in body.readings]


#: Response header naming the path a body took: :data:`INGEST_PATH_RAW` (a plain compact body,
#: decoded, parsed and checked in the node's check workers: :meth:`oracles.node.OracleNode.ingest_body`)
#: or :data:`INGEST_PATH_PARSED` (decoded and validated here, then :meth:`oracles.node.OracleNode.ingest`).
#: ``bench ingest`` counts them (issue 14: no silent slow path).
INGEST_PATH_HEADER = "x-carbonledger-ingest-path"
INGEST_PATH_RAW, INGEST_PATH_PARSED = "raw", "parsed"

#: One accepted reading's entry of the answer (the common case, formatted without a dict).
_ACCEPTED_JSON = '{"sequence":%d,"status":"accepted","reason":null,"detail":null}'


def readings_out_json(node: str, acks: list[Ack]) -> bytes:
    """The ``ReadingsOut`` JSON of ``acks`` (same keys, order and values as pydantic's dump)."""
    acc = dup = rej = 0
    results = []
    append = results.append
    accepted = _ACCEPTED_JSON
    dumps = json.dumps
    for a in acks:
        st = a.status
        if st == "accepted":
            acc += 1
            if a.reason is None and type(a.sequence) is int:
                append(accepted % a.sequence)
                continue
        elif st == "duplicate":
            dup += 1
        else:
            rej += 1
        append(dumps({"sequence": a.sequence, "status": st, "reason": a.reason, "detail": a.detail},
                     separators=(",", ":"), ensure_ascii=False))
    head = dumps({"node": node, "accepted": acc, "duplicates": dup, "rejected": rej}, separators=(",", ":"),
                 ensure_ascii=False)
    return (head[:-1] + ',"results":[' + ",".join(results) + "]}").encode()


def _inline_schema(model: type[Any]) -> dict[str, Any]:
    """JSON schema of ``model`` with its ``$defs`` inlined (for ``openapi_extra``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            ref = x.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.rsplit("/", 1)[1]])
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x
    return walk(schema)


@router.post("/readings", response_model=ReadingsOut, summary="Submit a batch of device-signed readings",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _inline_schema(ReadingsIn)}}}})
async def post_readings(request: Request, node: Any = Depends(oracle_node)) -> Response:
    """Check every reading (device, signature, sequence, interval, plausibility), store the good
    ones and quarantine the rest with a reason — one SQL transaction; answers after it commits.
    An identical resend of an accepted reading is acknowledged as ``duplicate``. Body: ``ReadingsIn``.
    A compact body (``{"readings":[{...},...]}`` without spaces) is decoded and checked in the node's
    worker processes; the ``x-carbonledger-ingest-path`` header says which path a body took."""
    raw = await request.body()
    acks = None
    path = INGEST_PATH_RAW
    if _is_json(request.headers.get("content-type")):   # plain compact body: decoded and checked in the workers
        acks = await run_in_threadpool(node.ingest_body, raw, MAX_READINGS)
    if acks is None:
        path = INGEST_PATH_PARSED
        batch = await _read_batch(request, raw)
        acks = await run_in_threadpool(node.ingest, batch)
    return Response(readings_out_json(node.name, acks), media_type="application/json", headers={INGEST_PATH_HEADER: path})
