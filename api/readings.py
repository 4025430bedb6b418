"""Oracle node ingestion: ``POST /v1/readings`` (DESIGN.md §7 step 2).

Hot route (issue 5, speed): a body of up to 20,000 readings is parsed with :func:`json.loads` and
checked by a lean parser (:func:`parse_readings_fast`) that accepts only bodies the pydantic
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
from oracles.node import Ack, SignedReading

router = APIRouter(prefix="/v1", tags=["oracle node"])

_KEYS = frozenset(("device", "sequence", "start", "end", "quantityCode", "value", "scale", "flags", "signature"))
#: Integer ranges of ``SignedReadingIn`` (None = unbounded there; the lean parser still bounds
#: ``value`` to int64..uint64 and leaves anything bigger to pydantic).
_LO, _HI = -(2**63), 2**64 - 1
_MAX_READINGS = ReadingsIn.model_fields["readings"].metadata


def _max_readings() -> int:
    for m in _MAX_READINGS:
        if getattr(m, "max_length", None) is not None:
            return int(m.max_length)
    raise RuntimeError("ReadingsIn.readings has no max_length")   # pragma: no cover


MAX_READINGS = _max_readings()


def _hex(v: Any, n: int) -> bytes | None:
    if type(v) is not str or len(v) != 2 + 2 * n or not v.startswith("0x"):
        return None
    try:
        b = bytes.fromhex(v[2:])
    except ValueError:
        return None
    return b if len(b) == n else None    # fromhex skips whitespace: a short result had some


def parse_readings_fast(obj: Any) -> list[SignedReading] | None:
    """The readings of a decoded ``POST /v1/readings`` body, or None when the body is not in the
    plain form this parser accepts (the caller then validates it with ``ReadingsIn``).

    Accepts exactly: ``{"readings": [...]}`` with 1..MAX_READINGS items, each a dict with exactly
    the nine ``SignedReadingIn`` keys, ``device`` "0x" + 64 hex digits, ``signature`` "0x" + 130
    hex digits, every other field a plain ``int`` (not bool) inside its schema range. Every body
    it accepts, ``ReadingsIn`` accepts with the same values (tests/test_bench.py checks both).
    """
    if type(obj) is not dict or len(obj) != 1:
        return None
    items = obj.get("readings")
    if type(items) is not list or not 1 <= len(items) <= MAX_READINGS:
        return None
    out: list[SignedReading] = []
    append = out.append
    keys = _KEYS
    for d in items:
        if type(d) is not dict or d.keys() != keys:
            return None
        seq, start, end, qc, value, scale, flags = (d["sequence"], d["start"], d["end"], d["quantityCode"], d["value"],
                                                    d["scale"], d["flags"])
        if not (type(seq) is int and type(start) is int and type(end) is int and type(qc) is int and type(value) is int
                and type(scale) is int and type(flags) is int):
            return None
        if not (0 <= seq <= _HI and 0 <= start <= _HI and 0 <= end <= _HI and 0 <= qc <= 65535 and _LO <= value <= _HI
                and -128 <= scale <= 127 and 0 <= flags <= 4294967295):
            return None
        device = _hex(d["device"], 32)
        signature = _hex(d["signature"], 65)
        if device is None or signature is None:
            return None
        append(SignedReading(Reading(device, seq, start, end, qc, value, scale, flags), signature))
    return out


def _validation_error(errors: list[Any]) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])


async def _read_batch(request: Request) -> list[SignedReading]:
    """Decode and validate the body as FastAPI would for ``body: ReadingsIn`` (same 422 errors)."""
    raw = await request.body()
    ctype = request.headers.get("content-type")
    is_json = True
    if ctype:
        m = email.message.Message()
        m["content-type"] = ctype
        main, sub = m.get_content_maintype(), m.get_content_subtype()
        is_json = main == "application" and (sub == "json" or sub.endswith("+json"))
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


def readings_out_json(node: str, acks: list[Ack]) -> bytes:
    """The ``ReadingsOut`` JSON of ``acks`` (same keys, order and values as pydantic's dump)."""
    acc = dup = rej = 0
    results = []
    for a in acks:
        st = a.status
        if st == "accepted":
            acc += 1
        elif st == "duplicate":
            dup += 1
        else:
            rej += 1
        results.append({"sequence": a.sequence, "status": st, "reason": a.reason, "detail": a.detail})
    return json.dumps({"node": node, "accepted": acc, "duplicates": dup, "rejected": rej, "results": results},
                      separators=(",", ":"), ensure_ascii=False).encode()


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
    An identical resend of an accepted reading is acknowledged as ``duplicate``. Body: ``ReadingsIn``."""
    batch = await _read_batch(request)
    acks = await run_in_threadpool(node.ingest, batch)
    return Response(readings_out_json(node.name, acks), media_type="application/json")
