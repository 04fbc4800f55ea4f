"""Starting an upstream Postgate (acting as Mailgun) and a Postgate relaying through it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import postgate_mailgun.plugin as relay_plugin
from postgate.testing.fixtures import TEST_DOMAIN, LiveServer, basic_auth

KEY_ENV = "POSTGATE_TEST_UPSTREAM_MAILGUN_KEY"
UPSTREAM_KEY = "key-upstream-account"
#: The upstream's own sending domain for Postgate's ``mg.example.com``.
UPSTREAM_DOMAIN = "relay.example.net"


def start_upstream(live_server: Callable[..., LiveServer]) -> LiveServer:
    """A second Postgate acting as Mailgun: its outbox delivers, its events API is Mailgun's."""
    return live_server(domain=UPSTREAM_DOMAIN, api_key=UPSTREAM_KEY)


def start_relay(live_server: Callable[..., LiveServer], base_url: str, gateway: dict[str, Any] | None = None, *,
                plugins: tuple[object, ...] = (), plugin_settings: dict[str, Any] | None = None,
                **settings: Any) -> LiveServer:
    """A Postgate whose delivery is the upstream Mailgun account at ``base_url`` (with ``plugins``
    besides the relay, configured by ``plugin_settings``)."""
    table = {"base_url": base_url, "api_key_env": KEY_ENV, "domains": {TEST_DOMAIN: UPSTREAM_DOMAIN},
             "events_poll_seconds": 0.2, "in_doubt_grace_seconds": 1.0, **settings}
    return live_server(plugins=[relay_plugin, *plugins],
                       backends={"delivery": "mailgun", "event_sources": ["mailgun_relay"]},
                       plugin_settings={**(plugin_settings or {}), "mailgun_relay": table},
                       gateway={"lease_seconds": 1.0, "retry_delays": [0.2, 0.4, 0.8], **(gateway or {})})


def ghost_batch(addresses: list[str], email_id: str = "ghost-email-1") -> dict[str, Any]:
    """Form fields of a Ghost newsletter batch (recipient variables, tag, email id variable)."""
    variables = {a: {"name": f"Reader {i}", "uuid": f"u-{i}"} for i, a in enumerate(addresses)}
    return {
        "from": f"Newsletter <news@{TEST_DOMAIN}>",
        "to": addresses,
        "subject": "Hello %recipient.name%",
        "html": "<p>Hi %recipient.name%</p><a href='https://example.org/?u=%recipient.uuid%'>read</a>",
        "text": "Hi %recipient.name%",
        "recipient-variables": json.dumps(variables),
        "o:tag": "ghost-email",
        "v:email-id": email_id,
        "h:List-Unsubscribe": "<https://example.org/unsubscribe?uuid=%recipient.uuid%>",
    }


def post_batch(server: LiveServer, fields: dict[str, Any]) -> str:
    response = httpx.post(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=fields, auth=("api", "key-test"), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def events(server: LiveServer, domain: str, key: str, **params: str) -> list[dict[str, Any]]:
    """Every event of ``domain`` (ascending, all pages) from ``server``'s events API."""
    params = {"ascending": "yes", "limit": "300", **params}
    url = f"{server.url}/v3/{domain}/events"
    items: list[dict[str, Any]] = []
    while True:
        response = httpx.get(url, params=params, auth=("api", key), timeout=30)
        assert response.status_code == 200, response.text
        page = response.json()
        if not page["items"]:
            return items
        items += page["items"]
        url, params = page["paging"]["next"], {}


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something true (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def outbox_files(server: LiveServer) -> list[Path]:
    folder = Path(server.gateway.settings.data_dir) / "outbox" / UPSTREAM_DOMAIN
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def ledger(server: LiveServer, batch_id: int) -> list[Any]:
    return server.run(server.gateway.storage.list_recipients(batch_id, 0, 1000))


def upstream_auth() -> dict[str, str]:
    return basic_auth(UPSTREAM_KEY)


async def rewind_cursor(server: LiveServer) -> None:
    """Forget where the event source stopped, so that it reads the upstream again from the start."""
    from postgate_mailgun.models import EventCursor

    with server.gateway.storage.orm():
        await EventCursor.all().delete()


async def cursor_saved(server: LiveServer) -> bool:
    """Whether the event source has stored where it stopped (after recording a page)."""
    from postgate_mailgun.models import EventCursor

    with server.gateway.storage.orm():
        return await EventCursor.filter(domain=UPSTREAM_DOMAIN).exists()
