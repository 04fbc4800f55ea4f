"""The ``wrap_asgi`` and ``domain_tracking`` hooks on a live server: wrappers chain inside the access
log and hand everything else to Quart; the first tracking answer wins, else everything is off."""

from __future__ import annotations

import logging
import time

import httpx

from postgate import hookimpl
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth


class Ping:
    """Answers ``/ping`` itself and hands the rest on."""

    @hookimpl
    def wrap_asgi(self, gateway, app):
        async def ping_first(scope, receive, send):
            if scope["type"] == "http" and scope["path"] == "/ping":
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-length", b"4")]})
                await send({"type": "http.response.body", "body": b"pong"})
                return
            await app(scope, receive, send)

        return ping_first


class Tag:
    """Adds a header to every answer of the app it wraps."""

    @hookimpl
    def wrap_asgi(self, app):
        async def tagged(scope, receive, send):
            async def tag(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), (b"x-tag", b"1")]}
                await send(message)

            await app(scope, receive, tag if scope["type"] == "http" else send)

        return tagged


class Tracks:
    @hookimpl
    async def domain_tracking(self, gateway, domain):
        return {"open": {"active": domain == TEST_DOMAIN, "place_at_the_top": False}, "click": {"active": "htmlonly"},
                "unsubscribe": {"active": False, "html_footer": "", "text_footer": ""}}


class Silent:
    @hookimpl
    def domain_tracking(self, domain):
        return None


def test_wrappers_chain_inside_the_access_log(live_server, caplog) -> None:
    server = live_server(plugins=[Ping(), Tag()], background=False)
    with caplog.at_level(logging.INFO, logger="postgate.access"):
        ping = httpx.get(f"{server.url}/ping", timeout=30)
        health = httpx.get(f"{server.url}/healthcheck", timeout=30)
        deadline = time.monotonic() + 10
        while not any(r.path == "/ping" for r in caplog.records if r.name == "postgate.access"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
    assert ping.status_code == 200 and ping.content == b"pong"
    assert health.json() == {"status": "ok"} and health.headers["x-request-id"]  # Quart still answers the rest
    # pluggy calls Tag first (registered last), so it wraps Quart and Ping wraps it: /ping never reaches Tag.
    assert ping.headers.get("x-tag") is None and health.headers["x-tag"] == "1"
    assert any(r.path == "/ping" and r.status == 200 for r in caplog.records if r.name == "postgate.access")


def test_domain_tracking_first_answer_wins(live_server) -> None:
    server = live_server(plugins=[Silent(), Tracks()], background=False)
    answer = httpx.get(f"{server.url}/v3/domains/{TEST_DOMAIN}/tracking", headers=basic_auth(), timeout=30)
    assert answer.status_code == 200
    assert answer.json()["tracking"]["open"]["active"] is True
    assert answer.json()["tracking"]["click"] == {"active": "htmlonly"}


def test_domain_tracking_without_an_answer_is_off(live_server) -> None:
    server = live_server(plugins=[Silent()], background=False)
    answer = httpx.get(f"{server.url}/v3/domains/{TEST_DOMAIN}/tracking", headers=basic_auth(), timeout=30)
    assert answer.json()["tracking"]["open"] == {"active": False, "place_at_the_top": False}
