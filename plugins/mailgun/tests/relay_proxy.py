"""A loopback reverse proxy in front of the upstream Postgate that answers some send calls itself.

Faults are queued per ``POST .../messages.mime`` call, in order: ``("status", 400)`` answers 400
without forwarding; ``("after", 500)`` forwards (the upstream accepts the message) and then answers
500 instead of the upstream's 200, the "accepted, answer lost" case. Calls with no fault queued,
and every other request, are forwarded untouched.

:meth:`RelayProxy.rate_limit` makes it answer 429 (with the headers given; a callable value is
given the window's end, epoch seconds) to every send call for a number of seconds from the next
send call on, as Mailgun does while an account is over its rate; ``send_times`` keeps when each send call arrived, ``limited`` how many were answered 429.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


class RelayProxy:
    def __init__(self, upstream_url: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream_url)
        self.faults: deque[tuple[str, int]] = deque()
        self.sends = 0
        self.send_times: list[float] = []
        self.limited = 0
        self.limit_seconds = 0.0
        self.limit_headers: dict[str, str | Callable[[float], str]] = {}
        self.limit_until: float | None = None  # set by the first send call once rate_limit is armed
        self.limit_ends_at = 0.0  # the same, epoch seconds
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._handle(b"")

            def do_POST(self) -> None:
                self._handle(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _handle(self, body: bytes) -> None:
                fault = None
                if self.command == "POST" and self.path.endswith("/messages.mime"):
                    with proxy.lock:
                        proxy.sends += 1
                        now = time.monotonic()
                        proxy.send_times.append(now)
                        fault = proxy.faults.popleft() if proxy.faults else None
                        if fault is None and proxy.rate_limited(now):
                            proxy.limited += 1
                            fault = ("limit", 429)
                if fault is not None and fault[0] == "limit":
                    self._answer(429, b'{"message": "Too many requests"}', proxy.window_headers())
                    return
                if fault is not None and fault[0] == "status":
                    self._answer(fault[1], json.dumps({"message": f"injected {fault[1]}"}).encode(), {})
                    return
                status, payload, headers = proxy.forward(self.command, self.path, dict(self.headers), body)
                if fault is not None:
                    status, payload = fault[1], json.dumps({"message": "injected after forwarding"}).encode()
                self._answer(status, payload, headers)

            def _answer(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def rate_limit(self, seconds: float, headers: dict[str, str | Callable[[float], str]]) -> None:
        """Answer 429 with ``headers`` to every send call for ``seconds`` from the next one on."""
        with self.lock:
            self.limit_seconds, self.limit_headers, self.limit_until = seconds, headers, None

    def rate_limited(self, now: float) -> bool:
        """Whether a send call arriving at ``now`` is in the 429 window (called under the lock)."""
        if not self.limit_seconds:
            return False
        if self.limit_until is None:
            self.limit_until = now + self.limit_seconds
            self.limit_ends_at = time.time() + self.limit_seconds
        return now < self.limit_until

    def window_headers(self) -> dict[str, str]:
        return {name: value(self.limit_ends_at) if callable(value) else value
                for name, value in self.limit_headers.items()}

    def calls_in_window(self) -> int:
        """Send calls that arrived while the 429 window was open."""
        if self.limit_until is None:
            return 0
        return sum(1 for at in self.send_times if self.limit_until - self.limit_seconds <= at < self.limit_until)

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            connection.close()

    def __enter__(self) -> RelayProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
