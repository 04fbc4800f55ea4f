"""A loopback reverse proxy in front of moto that injects AWS faults, for tests.

moto never throttles, pauses or loses answers (contract §5.8). Point a client (or a gateway's
``endpoint_url``) at :attr:`FaultProxy.url` instead of moto's and choose which requests go wrong::

    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).parent))   # tests run with --import-mode=importlib
    from fault_proxy import Fault, FaultProxy

    with FaultProxy(aws.url) as proxy:
        proxy.inject(Fault.throttle(), action="SendEmail", nth={2, 3})    # the 2nd and 3rd SendEmail
        proxy.inject(Fault.server_error(), action="SendEmail", times=1)  # the next one not yet faulted
        proxy.inject(Fault.drop_after_forward(), action="SendEmail",
                     when=lambda r: b"bob@example.com" in r.raw_email())
        ...
        assert proxy.count("SendEmail") == 10
        assert [s.outcome for s in proxy.seen("SendEmail")][:3] == ["forwarded", "throttle", "throttle"]

Every rule counts the requests that pass its ``action`` (``None``: any) and its ``when``
predicate (if any), whichever rule decides them. Rules are tried in the order they were added:
the first whose request count is among its ``nth`` (1-based; ``None``: every one) and that has
fired fewer than ``times`` times decides the request; a request no rule decides is forwarded
untouched. So ``nth=2`` always means "the second such request", even when another rule took
the first. Requests are logged on arrival (:meth:`FaultProxy.seen`), in order.

The action of a request is read the way AWS routes it: ``X-Amz-Target`` (JSON protocol: SQS),
``Action=`` in a form body (query protocol: SES v1, SNS), or the SES v2 REST path
(``SendEmail``, ``SendBulkEmail``, ``GetAccount``; other paths are ``"<METHOD> <path>"``).

Faults (:class:`Fault`): an AWS error in the request's protocol (REST-JSON with
``x-amzn-ErrorType``, JSON ``__type``, or query XML) — :meth:`Fault.throttle`,
:meth:`Fault.daily_quota`, :meth:`Fault.sending_paused`, :meth:`Fault.account_suspended`,
:meth:`Fault.message_rejected`, :meth:`Fault.aws_error`; a bare 5xx
(:meth:`Fault.server_error`); a canned answer (``Fault(name, status=200, raw_body=…)``); a connection closed without an answer, before
(:meth:`Fault.drop`) or after (:meth:`Fault.drop_after_forward`, "sent but no response")
forwarding; and a slow answer (:meth:`Fault.slow`, forwarded then held, to cause read timeouts).
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailers", "transfer-encoding", "upgrade", "content-length"})

#: SES v2 REST routes → operation names.
REST_ACTIONS = {
    ("POST", "/v2/email/outbound-emails"): "SendEmail",
    ("POST", "/v2/email/outbound-bulk-emails"): "SendBulkEmail",
    ("GET", "/v2/email/account"): "GetAccount",
}


@dataclass(slots=True)
class Request:
    """A request as the proxy saw it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    action: str
    protocol: str  # "rest-json", "json" or "query"

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace")))

    def raw_email(self) -> bytes:
        """The Raw MIME of an SES v2 ``SendEmail`` (b"" for anything else)."""
        if self.action != "SendEmail":
            return b""
        data = ((self.json().get("Content") or {}).get("Raw") or {}).get("Data")
        return base64.b64decode(data) if data else b""

    def destinations(self) -> list[str]:
        """``Destination.ToAddresses`` of an SES v2 send (``[]`` for anything else)."""
        if self.protocol != "rest-json" or not self.body:
            return []
        try:
            return list((self.json().get("Destination") or {}).get("ToAddresses") or [])
        except ValueError:
            return []


@dataclass(slots=True)
class Fault:
    """What to do with a matching request (build one with the class methods)."""

    name: str
    status: int = 0
    code: str = ""
    message: str = ""
    forward: bool = False  # forward to the upstream first
    close: bool = False  # close the connection instead of answering
    delay: float = 0.0  # hold the (forwarded) answer this long
    raw_body: bytes | None = None  # answer with this body as is (no AWS error format)

    @classmethod
    def aws_error(cls, status: int, code: str, message: str, name: str | None = None) -> Fault:
        """An AWS error answer in the protocol of the request."""
        return cls(name or code, status=status, code=code, message=message)

    @classmethod
    def throttle(cls, message: str = "Maximum sending rate exceeded.") -> Fault:
        return cls.aws_error(429, "TooManyRequestsException", message, name="throttle")

    @classmethod
    def daily_quota(cls) -> Fault:
        return cls.aws_error(429, "TooManyRequestsException", "Daily message quota exceeded.", name="daily_quota")

    @classmethod
    def sending_paused(cls, message: str = "Sending is paused for this account.") -> Fault:
        return cls.aws_error(400, "SendingPausedException", message, name="sending_paused")

    @classmethod
    def account_suspended(cls, message: str = "Your account has been suspended.") -> Fault:
        return cls.aws_error(400, "AccountSuspendedException", message, name="account_suspended")

    @classmethod
    def message_rejected(cls, message: str = "Email address is not verified.") -> Fault:
        return cls.aws_error(400, "MessageRejected", message, name="message_rejected")

    @classmethod
    def server_error(cls, status: int = 500, forward: bool = False) -> Fault:
        """A 5xx (``InternalFailure`` / ``ServiceUnavailable``); ``forward=True`` lets the upstream
        act on the request first."""
        code = "InternalFailure" if status == 500 else "ServiceUnavailable"
        return cls(f"http_{status}", status=status, code=code, message="Internal server error", forward=forward)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without forwarding (the upstream never sees the request)."""
        return cls("drop", close=True)

    @classmethod
    def drop_after_forward(cls) -> Fault:
        """Forward, then close the connection without answering: sent, but no response."""
        return cls("drop_after_forward", forward=True, close=True)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Forward, then hold the answer ``seconds`` (a client read timeout below that fires)."""
        return cls("slow", forward=True, delay=seconds)

    def render(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        if self.raw_body is not None:
            return self.status, {"Content-Type": "application/json"}, self.raw_body
        request_id = str(uuid.uuid4())
        if request.protocol == "query":
            kind = "Receiver" if self.status >= 500 else "Sender"
            body = (f'<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>{kind}</Type>'
                    f"<Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message></Error>"
                    f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
            return self.status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body
        if request.protocol == "json":
            body = json.dumps({"__type": self.code, "message": self.message}).encode()
            return self.status, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id,
                                 "x-amzn-query-error": f"{self.code};Sender"}, body
        body = json.dumps({"message": self.message}).encode()
        return self.status, {"Content-Type": "application/json", "x-amzn-ErrorType": self.code,
                             "x-amzn-RequestId": request_id}, body


@dataclass(slots=True)
class Rule:
    """A fault and the requests it applies to (returned by :meth:`FaultProxy.inject`)."""

    fault: Fault
    action: str | None = None
    nth: Collection[int] | None = None
    times: int | None = None
    when: Callable[[Request], bool] | None = None
    considered: int = 0  # requests that passed action and when
    hits: list[Request] = field(default_factory=list)

    def matches(self, request: Request) -> bool:
        """Whether ``request`` passes ``action`` and ``when`` (it is then counted for ``nth``)."""
        if self.action is not None and request.action != self.action:
            return False
        return self.when is None or bool(self.when(request))

    def fires(self) -> bool:
        """Whether the request just counted is one of ``nth`` and ``times`` is not used up."""
        if self.nth is not None and self.considered not in self.nth:
            return False
        return self.times is None or len(self.hits) < self.times


@dataclass(slots=True)
class Seen:
    """One request handled by the proxy and what happened to it."""

    request: Request
    outcome: str  # "forwarded" or the fault's name
    status: int | None  # status answered (None: dropped, or not answered yet)
    at: float  # arrival time


class FaultProxy:
    """The proxy: ``start()`` (or ``with``), inject faults, read :meth:`seen`, ``stop()``."""

    def __init__(self, upstream: str, *, timeout: float = 60.0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.timeout = timeout
        self.rules: list[Rule] = []
        self.log: list[Seen] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- rules ------------------------------------------------------------------------------

    def inject(self, fault: Fault, *, action: str | None = None, nth: int | Collection[int] | None = None,
               times: int | None = None, when: Callable[[Request], bool] | None = None) -> Rule:
        """Add a rule (see the module documentation); returns it so its ``hits`` can be read."""
        rule = Rule(fault, action, {nth} if isinstance(nth, int) else nth, times, when)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule (the log stays)."""
        with self._lock:
            self.rules.clear()

    def seen(self, action: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.log if action is None or s.request.action == action]

    def count(self, action: str | None = None) -> int:
        return len(self.seen(action))

    # -- used by the handler ----------------------------------------------------------------

    def _decide(self, request: Request) -> tuple[Fault | None, Seen]:
        """Count the request for every rule it matches; the first rule that fires decides.
        The request is logged on arrival (its outcome and status are filled in later)."""
        with self._lock:
            chosen: Rule | None = None
            for rule in self.rules:
                if not rule.matches(request):
                    continue
                rule.considered += 1
                if chosen is None and rule.fires():
                    chosen = rule
                    rule.hits.append(request)
            seen = Seen(request, "forwarded" if chosen is None else chosen.fault.name, None, time.time())
            self.log.append(seen)
        return (None if chosen is None else chosen.fault), seen

    def _forward(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=self.timeout)
        try:
            headers = {k: v for k, v in request.headers.items() if k not in HOP_BY_HOP}
            connection.request(request.method, request.path, body=request.body or None, headers=headers)
            response = connection.getresponse()
            body = response.read()
            return response.status, [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP], body
        finally:
            connection.close()


def _action_of(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[str, str]:
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1], "json"
    if "application/x-www-form-urlencoded" in headers.get("content-type", ""):
        action = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"))).get("Action")
        if action:
            return action, "query"
    route = urllib.parse.urlsplit(path).path.rstrip("/")
    return REST_ACTIONS.get((method, route), f"{method} {route}"), "rest-json"


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        action, protocol = _action_of(self.command, self.path, headers, body)
        request = Request(self.command, self.path, headers, body, action, protocol)
        fault, seen = self.owner._decide(request)
        if fault is None or fault.forward:
            status, out_headers, out_body = self.owner._forward(request)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.close:
                self._drop()
                return
            if fault.status:
                status, rendered_headers, out_body = fault.render(request)
                out_headers = list(rendered_headers.items())
        seen.status = status
        self._answer(status, out_headers, out_body)

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle  # noqa: N815 - stdlib names
