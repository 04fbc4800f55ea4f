"""Sign-in by a single-sign-on proxy's header against a live gateway: believed only from a trusted
peer address (a forged header from any other peer signs nobody in and is logged), unknown addresses
refused or created as configured, hostile values refused without a 500, CSRF still enforced."""

from __future__ import annotations

import logging
import re
import socket
from ipaddress import ip_network

import httpx
import pytest
from pydantic import ValidationError

import postgate_dashboard
from postgate_dashboard.web.accounts import create_user, find_user
from postgate_dashboard.web.settings import DashboardSettings
from postgate_dashboard.web.trusted_header import peer_is_trusted

PASSWORD = "correct horse battery"
HEADER = "X-Forwarded-Email"


def proxied(server, create_role: str | None = None):
    settings = {"trusted_header": HEADER, "trusted_proxies": ["127.0.0.1/32", "::1/128"],
                "cookie_secure": False}  # httpx sends no Secure cookie over http
    if create_role:
        settings["trusted_header_create_role"] = create_role
    return server(plugins=[postgate_dashboard], plugin_settings={"dashboard": settings})


def client_from(address: str) -> httpx.Client:
    """A real HTTP client whose connections come from ``address`` (any 127.x address is loopback)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def raw_get(server, path: bytes, header: bytes) -> int:
    """The status of a GET sent byte for byte (HTTP clients refuse to send some header bytes)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\n" + header + b"\r\nConnection: close\r\n\r\n")
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def test_the_header_is_believed_only_from_a_trusted_proxy(live_server, caplog) -> None:
    server = proxied(live_server)
    server.run(create_user(server.gateway, "ann@example.com", PASSWORD, "admin"))
    caplog.set_level(logging.WARNING, logger="postgate.dashboard")
    page = f"{server.url}/dashboard/operations"
    with client_from("127.0.0.1") as proxy:
        signed_in = proxy.get(page, headers={HEADER: "Ann@Example.com"})
        assert signed_in.status_code == 200 and "ann@example.com · admin" in signed_in.text
        assert "Sign out" not in signed_in.text  # the proxy signs people out, not the dashboard
        assert proxy.get(page).status_code == 303  # no header: no session either
    with client_from("127.0.0.2") as forger:
        forged = forger.get(page, headers={HEADER: "ann@example.com"})
        assert forged.status_code == 303 and forged.headers["location"].endswith("/dashboard/login")
        assert forger.get(f"{server.url}/dashboard/users", headers={HEADER: "ann@example.com"}).status_code == 303
    ignored = [r.getMessage() for r in caplog.records if "ignored the X-Forwarded-Email header" in r.getMessage()]
    assert ignored and "from 127.0.0.2" in ignored[0]


def test_forms_behind_the_proxy_still_need_their_csrf_token(live_server) -> None:
    server = proxied(live_server)
    server.run(create_user(server.gateway, "ann@example.com", PASSWORD, "admin"))
    header = {HEADER: "ann@example.com"}
    with client_from("127.0.0.1") as proxy:
        users = proxy.get(f"{server.url}/dashboard/users", headers=header)
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', users.text).group(1)
        form = {"email": "new@example.com", "password": PASSWORD, "role": "viewer"}
        assert proxy.post(f"{server.url}/dashboard/users", data=form, headers=header).status_code == 403
        done = proxy.post(f"{server.url}/dashboard/users", data={**form, "csrf_token": token}, headers=header)
        assert done.status_code == 303
        # Another person behind the same proxy cannot use Ann's token.
        server.run(create_user(server.gateway, "bo@example.com", PASSWORD, "admin"))
        other = proxy.post(f"{server.url}/dashboard/users", headers={HEADER: "bo@example.com"},
                           data={**form, "email": "x@example.com", "csrf_token": token})
        assert other.status_code == 403
    assert server.run(find_user(server.gateway, "new@example.com")) is not None
    assert server.run(find_user(server.gateway, "x@example.com")) is None


def test_unknown_addresses_are_refused_by_default(live_server, caplog) -> None:
    server = proxied(live_server)
    caplog.set_level(logging.WARNING, logger="postgate.dashboard")
    with client_from("127.0.0.1") as proxy:
        refused = proxy.get(f"{server.url}/dashboard/operations", headers={HEADER: "eve@example.com"})
    assert refused.status_code == 403
    assert server.run(find_user(server.gateway, "eve@example.com")) is None
    assert any("named 'eve@example.com', which has no dashboard account" in r.getMessage() for r in caplog.records)


def test_unknown_addresses_may_be_created_with_the_configured_role(live_server) -> None:
    server = proxied(live_server, create_role="viewer")
    with client_from("127.0.0.1") as proxy:
        for _ in range(2):  # the second request finds the account the first made
            made = proxy.get(f"{server.url}/dashboard/operations", headers={HEADER: "Cy@Example.com"})
            assert made.status_code == 200 and "cy@example.com · viewer" in made.text
    account = server.run(find_user(server.gateway, "cy@example.com"))
    assert account is not None and account.role == "viewer"


@pytest.mark.parametrize("value", [b"ann@example.com\x00", b"ann@example.com\xe2\x80\xa8", b"not-an-address",
                                   b"a" * 4000 + b"@example.com", b"ann@example.com\x0b", b"\xff\xfe@example.com"])
def test_hostile_header_values_sign_nobody_in(live_server, value) -> None:
    server = proxied(live_server, create_role="viewer")
    server.run(create_user(server.gateway, "ann@example.com", PASSWORD, "admin"))
    status = raw_get(server, b"/dashboard/operations", HEADER.encode() + b": " + value)
    assert status in (400, 403)  # the HTTP server refuses some bytes itself; never a 500, never a session
    assert [a.email for a in server.run(_all(server.gateway))] == ["ann@example.com"]


async def _all(gateway):
    from postgate_dashboard.web.accounts import list_users

    return await list_users(gateway)


def test_peer_addresses_are_matched_against_the_networks() -> None:
    networks = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]
    assert peer_is_trusted("10.1.2.3", networks) and peer_is_trusted("fd00::5", networks)
    assert peer_is_trusted("::ffff:10.1.2.3", networks)  # IPv4-mapped
    for peer in ("11.0.0.1", "127.0.0.1", "", None, "unknown", "10.1.2.3\n", "10.0.0.0/8"):
        assert not peer_is_trusted(peer, networks)


@pytest.mark.parametrize("settings, why", [
    ({"trusted_header": HEADER}, "needs trusted_proxies"),
    ({"trusted_header": "X-Email\r\nSet-Cookie", "trusted_proxies": ["127.0.0.1/32"]}, "header name"),
    ({"trusted_header": HEADER, "trusted_proxies": ["127.0.0.1/8"]}, "not a valid IPv4 or IPv6 network"),
    ({"trusted_header": HEADER, "trusted_proxies": ["example.com"]}, "not a valid IPv4 or IPv6 network"),
    ({"trusted_header_create_role": "root"}, "admin"),
])
def test_bad_proxy_settings_are_refused(settings, why) -> None:
    with pytest.raises(ValidationError, match=why):
        DashboardSettings(**settings)
