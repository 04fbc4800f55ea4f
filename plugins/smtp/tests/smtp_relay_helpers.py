"""Shared helpers of the SMTP delivery tests: a gateway that delivers through a test relay."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from postgate import Message
from postgate.domain import EventQuery
from postgate.worker import Worker
from relay_sink import USERNAME, Certificates, Relay

DOMAIN = "mg.example.com"
FAST = {"lease_seconds": 0.6, "retry_delays": [0.2, 0.4]}
PASSWORD_ENV = "POSTGATE_TEST_RELAY_PASSWORD"


def settings_for(port: int, tls: str, certificates: Certificates | None, *, auth: bool, **extra: Any) -> dict[str, Any]:
    """``[plugins.smtp]`` for delivering to ``localhost:port``."""
    settings: dict[str, Any] = {"relay_host": "localhost", "relay_port": port, "relay_tls": tls,
                                "relay_timeout": 10.0, "relay_connections": 2}
    if certificates is not None:
        settings["relay_ca_file"] = str(certificates.ca_file)
    if auth:
        settings.update(relay_username=USERNAME, relay_password_env=PASSWORD_ENV)
    settings.update(extra)
    return settings


def relay_settings(relay: Relay, certificates: Certificates | None, **extra: Any) -> dict[str, Any]:
    return settings_for(relay.port, relay.tls, certificates, auth=relay.auth, **extra)


def smtp_gateway(gateway_factory: Any, relay: Relay | dict[str, Any], certificates: Certificates | None = None, *,
                 gateway: dict[str, Any] | None = None, event_sources: list[str] | None = None, **extra: Any) -> Any:
    """A gateway delivering through ``relay`` (or with these ``[plugins.smtp]`` settings)."""
    settings = relay if isinstance(relay, dict) else relay_settings(relay, certificates, **extra)
    backends = {"delivery": "smtp", "event_sources": event_sources or []}
    return gateway_factory(load_entrypoints=True, load_plugins=["smtp"], backends=backends,
                           plugin_settings={"smtp": settings}, gateway={**FAST, **(gateway or {})})


def batch(addresses: list[str], **kw: Any) -> Message:
    fields: dict[str, Any] = dict(
        domain=DOMAIN, sender="Blog <noreply@mg.example.com>", to=list(addresses), subject="Hi %recipient.n%",
        text="Hello %recipient.n%\n.leading dot line\n", html="<p>Hello %recipient.n%</p>",
        recipient_variables={a: {"n": str(i)} for i, a in enumerate(addresses)},
    )
    fields.update(kw)
    return Message(**fields)


@contextlib.asynccontextmanager
async def running(gw: Any, workers: int = 1) -> AsyncIterator[list[asyncio.Task[None]]]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(Worker(gw, f"w{i}").run(stop)) for i in range(workers)]
    try:
        yield tasks
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def drain(gw: Any, timeout: float = 30.0) -> None:
    """Run a worker until every queue job is acknowledged."""
    async with running(gw) as tasks:
        deadline = time.monotonic() + timeout
        while await gw.queue.depth():
            assert time.monotonic() < deadline, "the queue did not drain"
            for task in tasks:
                if task.done():
                    task.result()
            await asyncio.sleep(0.05)


async def events_of(gw: Any, kind: str | None = None) -> list[Any]:
    page = await gw.storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=1000, live=True))
    return [e for e in page if kind is None or e.event == kind]
