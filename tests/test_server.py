"""The real server: reason phrases, liveness and readiness, auth on every API path."""

import socket

import httpx
import pytest

from postgate.server import reason_phrase


def status_line(url: str, path: str) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0]


def test_reason_phrases():
    assert reason_phrase(400) == b"Bad Request"
    assert reason_phrase(599) == b""


def test_responses_carry_reason_phrases(live_server):
    server = live_server(background=False)
    assert status_line(server.url, "/v3/mg.example.com/events") == b"HTTP/1.1 401 Unauthorized"
    assert status_line(server.url, "/healthcheck") == b"HTTP/1.1 200 OK"


def test_liveness_and_readiness(live_server):
    server = live_server(background=False)
    live = httpx.get(f"{server.url}/healthcheck", timeout=30)
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert "key" not in live.text
    ready = httpx.get(f"{server.url}/health/ready", timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["storage"] == "ok"
    assert ready.json()["checks"]["queue"] == "ok"


def test_readiness_is_503_when_storage_is_down(live_server):
    server = live_server(background=False)
    server.run(server.gateway.storage.stop())
    ready = httpx.get(f"{server.url}/health/ready", timeout=30)
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["storage"] != "ok"


@pytest.mark.parametrize("path", [
    "/v3/mg.example.com/events",
    "/v3/mg.example.com/messages.json",
    "//v3/mg.example.com/bounces",
    "/V3/mg.example.com/bounces",
    "/v3/mg.example.com/anything/else",
    "/v3/domains",
    "/v4/domains",
    "/v3",
])
def test_every_api_path_needs_a_key(live_server, path):
    server = live_server(background=False)
    response = httpx.get(f"{server.url}{path}", timeout=30)
    assert response.status_code == 401
    assert response.text == "Forbidden"
    wrong = httpx.get(f"{server.url}{path}", auth=("api", "key-wrong"), timeout=30)
    assert wrong.status_code == 401


def test_unknown_domain_is_404(live_server):
    server = live_server(background=False)
    response = httpx.get(f"{server.url}/v3/nope.example.com/events", auth=("api", "key-test"), timeout=30)
    assert response.status_code == 404
    assert response.json() == {"message": "Domain not found: nope.example.com"}


def test_key_of_another_domain_is_refused(live_server):
    server = live_server(background=False, domains={"other.example.com": {"api_key": "key-other"}})
    response = httpx.get(f"{server.url}/v3/mg.example.com/events?ascending=yes", auth=("api", "key-other"), timeout=30)
    assert response.status_code == 401


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """The status line and body of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection; got {data[:200]!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-answer"
        body += chunk
    return head.split(b"\r\n", 1)[0], body


@pytest.mark.parametrize("path, key", [
    ("/v3/mg.example.com/messages", "wrong"),  # refused by the key check, before any route
    ("/v3/mg.example.com/no-such-route", None),  # answered by the router
])
def test_a_refused_post_is_answered_after_its_body_and_keeps_the_connection(live_server, path, key):
    """A client still sending a big body (Ghost's batches are half a megabyte) must get the
    refusal, not a reset connection, and may go on using the connection."""
    from postgate.testing.fixtures import TEST_KEY, basic_auth

    server = live_server(background=False)
    body = b"html=" + b"x" * 3_000_000
    auth = basic_auth(key or TEST_KEY)["Authorization"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: {auth}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode())
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):  # nothing is answered before the body is read
            sock.recv(1)
        sock.settimeout(30)
        sock.sendall(body)
        status, answer = read_response(sock)
        assert status in (b"HTTP/1.1 401 Unauthorized", b"HTTP/1.1 404 Not Found"), status
        # The same connection carries the next request.
        sock.sendall(f"GET /v3/mg.example.com/events HTTP/1.1\r\nHost: t\r\n"
                     f"Authorization: {basic_auth(TEST_KEY)['Authorization']}\r\n\r\n".encode())
        status, answer = read_response(sock)
        assert status == b"HTTP/1.1 200 OK" and b'"items"' in answer
