"""A real webhook receiver (``http.server`` on a loopback port, in a thread) and a live gateway
with the plugin, for the webhooks tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from mailgun.security import SecurityGuard

import postgate_webhooks.plugin as webhooks_plugin
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth

ALLOW_PRIVATE = {"allow_private_targets": True, "retry_schedule": [0.2, 0.2, 0.2], "poll_seconds": 0.1,
                 "subscriptions_refresh_seconds": 0}


@dataclass
class Post:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class Receiver:
    """Records every POST; answers each path from its script of statuses (then 200), after an
    optional pause. ``signing_key`` makes it verify signatures as a Mailgun receiver does."""

    signing_key: str | None = None
    posts: list[Post] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)
    pauses: dict[str, float] = field(default_factory=dict)
    verified: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.record(self.path, raw, dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def record(self, path: str, raw: bytes, headers: dict[str, str]) -> int:
        pause = self.pauses.get(path, 0)
        if pause:
            time.sleep(pause)
        body = json.loads(raw)
        with self._lock:
            self.posts.append(Post(path, body, headers, time.time()))
            if self.signing_key is not None:
                sig = body["signature"]
                self.verified.append(SecurityGuard.verify_webhook(self.signing_key, sig["token"], sig["timestamp"],
                                                                  sig["signature"]))
            script = self.answers.get(path)
            return script.pop(0) if script else 200

    def to(self, path: str) -> list[Post]:
        with self._lock:
            return [p for p in self.posts if p.path == path]

    def wait(self, check: Callable[[], Any], timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting; posts so far: {[(p.path, p.body['event-data'].get('event')) for p in self.posts]}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Blackhole:
    """A TCP server that accepts connections and never answers (a dead endpoint)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(100)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


def webhook_server(live_server, *, background: bool = True, **settings: Any):
    """A live gateway with the webhooks plugin (loopback receivers allowed unless said)."""
    return live_server(plugins=[webhooks_plugin], background=background,
                       plugin_settings={"webhooks": {**ALLOW_PRIVATE, **settings}})


def api(server) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30)


def subscribe(server, webhook: str, *urls: str, domain: str = TEST_DOMAIN) -> None:
    with api(server) as http:
        response = http.post(f"/v3/domains/{domain}/webhooks", data={"id": webhook, "url": list(urls)})
        assert response.status_code == 200, response.text


def send(server, to: list[str] | str, **extra: Any) -> str:
    with api(server) as http:
        response = http.post(f"/v3/{TEST_DOMAIN}/messages", data={
            "from": f"Shop <shop@{TEST_DOMAIN}>", "to": to, "subject": "Hello", "text": "Hi", **extra})
        assert response.status_code == 200, response.text
        return response.json()["id"]


def signing_key(server) -> str:
    with api(server) as http:
        return http.get("/v5/accounts/http_signing_key").json()["http_signing_key"]


def attempts(server, **filters: Any) -> list[Any]:
    from postgate_webhooks.queue import attempts as read

    async def work():
        with server.gateway.storage.orm():
            return await read(limit=10000, **filters)

    return server.run(work())


def check_concurrent_changes(servers, hook: str = "https://hooks.example.com", rounds: int = 1) -> None:
    """Many API calls changing one domain's webhooks at once: each applies whole or not at all,
    and no webhook ends with more than 3 URLs (each call on its own connection, in threads).
    ``servers``: one gateway, or several serving the same database (the calls go to each in
    turn, so the lock must hold across processes); ``rounds``: how often the racing steps are
    run (a count, no timing)."""
    servers = servers if isinstance(servers, list) else [servers]
    root = f"/v3/domains/{TEST_DOMAIN}/webhooks"

    def together(calls: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
        def one(numbered: tuple[int, tuple[str, str, dict[str, Any]]]) -> httpx.Response:
            index, (method, path, data) = numbered
            with api(servers[index % len(servers)]) as http:
                return http.request(method, path, data=data)
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(one, enumerate(calls)))

    with api(servers[0]) as http:
        def urls(webhook: str) -> list[str]:
            found = http.get(f"{root}/{webhook}")
            return found.json()["webhook"]["urls"] if found.status_code == 200 else []

        for turn in range(rounds):
            sets = [[f"{hook}/{turn}/{i}/a", f"{hook}/{turn}/{i}/b"] for i in range(12)]
            answers = together([("PUT", f"{root}/clicked", {"url": urls_}) for urls_ in sets])
            assert [a.status_code for a in answers] == [200] * len(sets), [a.text for a in answers]
            assert urls("clicked") in sets  # one call's URLs, not a mix

            answers = together([("POST", root, {"id": "opened", "url": f"{hook}/opened/{turn}/{i}"})
                                for i in range(8)])
            won = [i for i, a in enumerate(answers) if a.status_code == 200]
            assert len(won) == 1, [a.text for a in answers]
            assert all(a.json() == {"message": "Webhook already exists"} for a in answers if a.status_code != 200)
            assert urls("opened") == [f"{hook}/opened/{turn}/{won[0]}"]

            answers = together([("POST", f"/v4/domains/{TEST_DOMAIN}/webhooks",
                                 {"url": f"{hook}/v4/{turn}/{i}", "event_types": "delivered"}) for i in range(8)])
            won = [i for i, a in enumerate(answers) if a.status_code == 200]
            assert len(won) == 3, [a.text for a in answers]  # none lost, none past 3
            assert all("at most 3" in a.json()["message"] for a in answers if a.status_code != 200)
            assert sorted(urls("delivered")) == sorted(f"{hook}/v4/{turn}/{i}" for i in won)

            for webhook in ("opened", "delivered"):  # the next round starts from empty webhooks
                assert http.delete(f"{root}/{webhook}").status_code == 200


def closed_port_url(path: str = "/") -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def check_test_route_logs(server, receiver: Receiver, timeout_seconds: float) -> None:
    """The test route's sample POSTs, to a receiver that accepts, one that answers 500, a closed
    port and a black hole (timed out after ``timeout_seconds``, the server's setting): each answers
    in Mailgun's shape and leaves one attempts-log row marked as a test, with its status,
    duration and error, and no delivery behind it."""
    blackhole = Blackhole()
    refused = closed_port_url("/refused")
    receiver.answers["/broken"] = [500]
    root = f"/v3/domains/{TEST_DOMAIN}/webhooks"
    cases = [("delivered", receiver.url("/fine")), ("permanent_fail", receiver.url("/broken")),
             ("opened", refused), ("clicked", blackhole.url("/hole"))]
    try:
        with api(server) as http:
            answers = [http.put(f"{root}/{webhook}/test", data={"url": url}) for webhook, url in cases]
    finally:
        blackhole.close()
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert bodies[:2] == [{"code": 200, "message": "Test webhook sent"},
                          {"code": 500, "message": "Test webhook failed: HTTP 500"}]
    assert bodies[2]["code"] == 0 and bodies[2]["message"].startswith("Test webhook failed: ClientConnectorError")
    assert bodies[3] == {"code": 0, "message": "Test webhook failed: timed out"}
    assert [p.body["event-data"]["event"] for p in receiver.to("/fine") + receiver.to("/broken")] == ["delivered",
                                                                                                      "failed"]

    rows = list(reversed(attempts(server)))
    assert [(r.webhook, r.url, r.status_code, r.outcome, r.test, r.delivery_id, r.event_id) for r in rows] == [
        (webhook, url, status, outcome, True, 0, "test-event") for (webhook, url), status, outcome in
        zip(cases, [200, 500, None, None], ["delivered", "failed", "failed", "failed"], strict=True)]
    assert [r.error for r in rows[:2]] == ["", "HTTP 500"]
    assert rows[2].error.startswith("ClientConnectorError") and rows[3].error == "timed out"
    assert all(r.duration_ms is not None and r.duration_ms >= 0 for r in rows), [r.duration_ms for r in rows]
    assert rows[3].duration_ms >= timeout_seconds * 1000 * 0.9  # it waited for the whole timeout
    assert all(r.domain == TEST_DOMAIN for r in rows)
