"""Cursor pagination for every list: ``?cursor=<opaque>&limit=<1..200>`` →
``{"items": [...], "next_cursor": "<opaque>" | null}``. The cursor encodes the last item's id."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from fastapi import Query

from api.problems import Problem

T = TypeVar("T")
MAX_LIMIT = 10_000


def encode_cursor(last_id: int) -> str:
    """Opaque cursor for 'items after ``last_id``'."""
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id a cursor points after (0 for the first page). Raises a validation problem if malformed."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, value = text.split(":", 1)
        if version != "v1" or int(value) < 0:
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise Problem("validation-error", "malformed cursor", errors=[{"field": "query.cursor", "message": "malformed cursor"}]) from None


class PageParams:
    """Dependency: ``cursor`` and ``limit`` query parameters."""

    def __init__(self, cursor: str | None = Query(None, description="opaque cursor from the previous page's next_cursor"),
                 limit: int = Query(50, ge=1, le=MAX_LIMIT, description="items per page")) -> None:
        self.after, self.limit = decode_cursor(cursor), limit


def page(items: Iterable[T], params: PageParams, id_of: Any) -> dict[str, Any]:
    """Take ``limit`` items (already after the cursor, in id order) and the next cursor."""
    it: Iterator[T] = iter(items)
    out: list[T] = []
    for x in it:
        out.append(x)
        if len(out) == params.limit:
            break
    more = next(it, None) is not None
    return {"items": out, "next_cursor": encode_cursor(id_of(out[-1])) if out and more else None}
