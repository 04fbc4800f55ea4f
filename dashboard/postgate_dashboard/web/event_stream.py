"""Server-Sent Events for the live parts of the pages, each stream bounded.

A stream sends ``update()`` now and every ``interval`` seconds. It ends when the update says it
was the last one (a send that has gone out), or after ``max_seconds`` (the browser's
``EventSource`` then reconnects by itself, after the ``retry`` delay sent first), or when the
client goes away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from quart import Response

#: Seconds between two updates of a live page.
LIVE_INTERVAL = 3.0


@dataclass(frozen=True, slots=True)
class Frame:
    """One update: its data (JSON) and the SSE event name (``message`` when empty)."""

    data: Any
    event: str = ""
    last: bool = False

    def encode(self) -> bytes:
        head = f"event: {self.event}\n" if self.event else ""
        return f"{head}data: {json.dumps(self.data, separators=(',', ':'))}\n\n".encode()


class EventStream:
    """The async iterator Quart streams. A plain iterator (not a generator), so a disconnect
    cancels it without a generator to close mid-step."""

    def __init__(self, update: Callable[[], Awaitable[Frame]], interval: float, max_seconds: float,
                 retry_ms: int = 3000) -> None:
        self.update = update
        self.interval = interval
        self.max_seconds = max_seconds
        self.retry_ms = retry_ms
        self.started: float | None = None
        self.ended = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> bytes:
        loop = asyncio.get_running_loop()
        if self.ended:
            raise StopAsyncIteration
        if self.started is None:
            self.started = loop.time()
            head = f"retry: {self.retry_ms}\n".encode()
        else:
            if loop.time() + self.interval - self.started > self.max_seconds:
                raise StopAsyncIteration
            await asyncio.sleep(self.interval)
            head = b""
        frame = await self.update()
        self.ended = frame.last
        return head + frame.encode()


def event_stream_response(stream: EventStream) -> Response:
    """A ``text/event-stream`` response of ``stream``, with no response timeout (the stream
    bounds itself)."""
    response = Response(stream, content_type="text/event-stream")
    response.timeout = None
    return response
