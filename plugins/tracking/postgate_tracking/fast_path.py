"""Pixel and link hits answered before Quart's routing (the core's ``wrap_asgi`` hook).

Quart and Hypercorn spend most of a pixel request on routing, request and response objects and
the before/after-request handlers. This raw ASGI handler answers ``GET``/``HEAD`` of
``/t/o/<token>.gif`` and ``/t/c/<token>`` itself when everything it needs is in memory: a genuine
token (checked in constant time), the batch in the recorder's cache and, for a link, its URL.
It records exactly as the routes of :mod:`routes` do (``record_hit``; ``HEAD`` never), answers
the same status, body and headers, and echoes the request id. Anything else goes to Quart, which
answers it as before and fills the cache: a body, a bad or unknown token, a batch not cached
yet, a URL that is not a valid header value. The access log wraps both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from postgate import Gateway
from postgate.logs import REQUEST_ID

from .routes import NO_CACHE, PIXEL, client_address, record_hit
from .state import tracking_for

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]

_NO_CACHE = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in NO_CACHE.items()]
_PIXEL_HEADERS = [(b"content-type", b"image/gif"), (b"content-length", str(len(PIXEL)).encode()), *_NO_CACHE]
_REDIRECT_HEADERS = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"0"), *_NO_CACHE]


class FastPath:
    """Wraps the Quart app's ASGI callable; see the module docstring."""

    def __init__(self, gateway: Gateway, app: ASGIApp) -> None:
        self.gateway = gateway
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        answer = self.answer(scope) if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = answer
        request_id = REQUEST_ID.get()
        if request_id is not None:
            headers = [*headers, (b"x-request-id", request_id.encode("latin-1"))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    def answer(self, scope: MutableMapping[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """``(status, headers, body)`` of a hit answered here, or ``None`` for Quart."""
        path: str = scope["path"]
        if path.startswith("/t/o/") and path.endswith(".gif"):
            kind, token = "o", path[5:-4]
        elif path.startswith("/t/c/"):
            kind, token = "c", path[5:]
        else:
            return None
        state = tracking_for(self.gateway)
        if state.signer is None:
            return None
        user_agent = forwarded = ""
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded = f"{forwarded},{value.decode('latin-1')}" if forwarded else value.decode("latin-1")
            elif name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                return None  # a body: Quart's limits apply
        claim = state.signer.verify(kind, token)
        info = state.recorder.cached(claim.batch_id) if claim is not None else None
        if claim is None or info is None:
            return None
        if kind == "o":
            status, headers, body, link = 200, _PIXEL_HEADERS, PIXEL, None
        else:
            url = info.links.get(claim.link) if info.links is not None else None
            try:
                location = url.encode("latin-1") if url is not None else None
            except UnicodeEncodeError:
                location = None
            if location is None:
                return None
            status, headers, body, link = 302, [(b"location", location), *_REDIRECT_HEADERS], b"", claim.link
        state.fast_hits += 1
        if scope["method"] == "GET":
            peer = (scope.get("client") or ("",))[0] or ""
            record_hit(state, "open" if kind == "o" else "click", claim, link, user_agent,
                       client_address(state.settings.trust_proxy, forwarded, peer))
        return status, headers, body
