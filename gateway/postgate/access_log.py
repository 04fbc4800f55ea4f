"""One access line per HTTP request, and the request id every record of that request carries.

An ASGI middleware around the Quart app: it picks the request id (a well-formed ``X-Request-Id``
from the client, else a new one) before the app runs, so the app, its handlers and any task they
start see it in :data:`postgate.logs.REQUEST_ID`; it writes the line when the response is done.
Headers are never logged (``Authorization`` holds the API key); the query string is (Ghost's
``begin``/``end`` paging), but no Mailgun client sends a secret in it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .logs import REQUEST_ID

log = logging.getLogger("postgate.access")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = "X-Request-Id"
#: An ``X-Request-Id`` sent by the client is kept when it looks like this; else one is made.
WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}$")
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
#: Paths polled by probes and scrapers (Docker's HEALTHCHECK, Kubernetes, Prometheus): a 2xx answer
#: is logged at DEBUG so it does not flood the log; any other answer at INFO like every request.
PROBE_PATHS = frozenset({"/healthcheck", "/health/ready", "/metrics"})


def request_id_of(scope: Scope) -> str:
    """The client's ``X-Request-Id`` when well formed, else a fresh id."""
    for name, value in scope.get("headers") or ():
        if name.lower() == _HEADER_KEY:
            sent = value.decode("latin-1")
            if WELL_FORMED_ID.match(sent):
                return sent
            break
    return uuid.uuid4().hex


def target_of(scope: Scope) -> str:
    """The request's path with its query string, as the client sent them."""
    path = scope.get("raw_path") or scope.get("path", "").encode("utf-8")
    if isinstance(path, bytes):
        path = path.decode("latin-1")
    query = scope.get("query_string") or b""
    return f"{path}?{query.decode('latin-1')}" if query else path


class AccessLog:
    """Wraps an ASGI app: request id in a context variable, then one ``postgate.access`` line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = REQUEST_ID.set(request_id_of(scope))
        started = time.perf_counter()
        status = 0
        sent_bytes = 0

        async def watch(message: MutableMapping[str, Any]) -> None:
            nonlocal status, sent_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent_bytes += len(message.get("body") or b"")
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            method, target = scope.get("method", "?"), target_of(scope)
            status = status or 500  # the app raised before answering: the server answers 500
            quiet = scope.get("path") in PROBE_PATHS and 200 <= status < 300
            log.log(logging.DEBUG if quiet else logging.INFO, "request", extra={
                "method": method, "path": target, "status": status, "bytes": sent_bytes,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "remote": (scope.get("client") or ("-",))[0]})
            REQUEST_ID.reset(token)
