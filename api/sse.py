"""Server-sent event streams that poll a source (the alerts store, the event indexer).

One loop for every stream of the API: poll, send what came, end when the client asked for one pass
(``once``) or went away, else wait :data:`STREAM_POLL_S` and send an SSE comment after
:data:`KEEPALIVE_S` of silence so that proxies keep the connection open (WHATWG HTML, "Server-sent
events": lines starting with ``:`` are comments).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Request

#: Seconds between polls of the source.
STREAM_POLL_S = 0.5
#: Seconds of silence after which the stream sends an SSE comment.
KEEPALIVE_S = 15.0
KEEPALIVE = b": keep-alive\n\n"


def sse_event(event_id: int, event: str, data: str) -> bytes:
    """One SSE event: ``id``, ``event`` name and one ``data`` line (JSON without newlines)."""
    return f"id: {event_id}\nevent: {event}\ndata: {data}\n\n".encode()


async def poll_events(request: Request, poll: Callable[[], Awaitable[tuple[list[bytes], bool]]],
                      once: bool) -> AsyncIterator[bytes]:
    """The stream's bytes: each ``poll()`` returns the encoded events to send and whether the
    source moved on (rows read, even if none was sent); silence counts only when it did not."""
    idle = 0.0
    while True:
        events, moved = await poll()
        for e in events:
            yield e
        if once or await request.is_disconnected():
            return
        if moved:
            idle = 0.0
            continue
        idle += STREAM_POLL_S
        if idle >= KEEPALIVE_S:
            idle = 0.0
            yield KEEPALIVE
        await asyncio.sleep(STREAM_POLL_S)
