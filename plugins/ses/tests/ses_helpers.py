"""Shared helpers of the SES delivery tests (gateway set-up on moto, draining, ledger reads)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import time
from collections.abc import AsyncIterator
from email import message_from_string
from email.policy import default
from typing import Any

from postgate import Message, hookimpl
from postgate.domain import EventQuery
from postgate.worker import Worker

DOMAIN = "mg.example.com"
FAST = {"lease_seconds": 0.6, "retry_delays": [0.2, 0.4, 0.8, 1.6, 3.2]}


class SesDeliveryOnly:
    """The SES plugin's settings and delivery backend alone, for when the event-source modules
    of the plugin are not importable (they are written separately)."""

    @hookimpl
    def register_settings(self, register):
        from postgate_ses.settings import SesSettings

        register("ses", SesSettings)

    @hookimpl
    def register_deliveries(self, register):
        from postgate_ses.delivery import SesDelivery

        register("ses", SesDelivery)


def plugin_kwargs() -> dict[str, Any]:
    """Load the real ``ses`` entry point when the whole plugin imports, else the delivery alone."""
    try:
        complete = all(importlib.util.find_spec(f"postgate_ses.{name}") for name in ("source", "sns"))
    except ImportError:
        complete = False
    if complete:
        return {"load_entrypoints": True, "load_plugins": ["ses"]}
    return {"plugins": [SesDeliveryOnly()]}


def setup_ses(aws: Any, identity: bool = True) -> None:
    """The sending identity and the configuration set in moto."""
    client = aws.client("sesv2")
    if identity:
        client.create_email_identity(EmailIdentity=DOMAIN)
    client.create_configuration_set(ConfigurationSetName="postgate")


def ses_gateway(gateway_factory: Any, endpoint: str, *, gateway: dict[str, Any] | None = None,
                plugin_settings: dict[str, Any] | None = None, backends: dict[str, Any] | None = None,
                **ses: Any) -> Any:
    settings = {"endpoint_url": endpoint, "max_send_rate": 500, "in_doubt_grace_seconds": 60,
                "paused_retry_seconds": 60, **ses}
    return gateway_factory(**plugin_kwargs(), backends=backends or {"delivery": "ses"},
                           plugin_settings={"ses": settings, **(plugin_settings or {})},
                           gateway={**FAST, **(gateway or {})})


def simple_batch(addresses: list[str], **kw: Any) -> Message:
    fields: dict[str, Any] = dict(
        domain=DOMAIN, sender="Blog <noreply@mg.example.com>", to=list(addresses), subject="Hi %recipient.n%",
        text="Hello %recipient.n%", html="<p>Hello %recipient.n%</p>",
        recipient_variables={a: {"n": str(i)} for i, a in enumerate(addresses)},
    )
    fields.update(kw)
    return Message(**fields)


@contextlib.asynccontextmanager
async def running(*gateways: Any, workers: int = 1) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Worker loops on ``gateways`` while the block runs."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(Worker(gw, f"w{g}-{i}").run(stop))
             for g, gw in enumerate(gateways) for i in range(workers)]
    try:
        yield tasks
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def drain(*gateways: Any, timeout: float = 60.0, workers: int = 1) -> None:
    """Run workers until every queue job is acknowledged."""
    async with running(*gateways, workers=workers) as tasks:
        deadline = time.monotonic() + timeout
        while await gateways[0].queue.depth():
            assert time.monotonic() < deadline, "the queue did not drain"
            for task in tasks:
                if task.done():
                    task.result()
            await asyncio.sleep(0.05)


async def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(interval)


async def ledger(gw: Any, batch_id: int = 1) -> list[Any]:
    return await gw.storage.list_recipients(batch_id, 0, 100_000)


async def events_of(gw: Any, kind: str | None = None) -> list[Any]:
    out: list[Any] = []
    after = None
    while True:
        page = await gw.storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=300, after=after))
        if not page:
            return [e for e in out if kind is None or e.event == kind]
        out.extend(page)
        after = (page[-1].recorded_at, page[-1].id)


def sent_mail(aws: Any) -> list[tuple[str, Any, dict[str, Any]]]:
    """``(moto message id, parsed mail, raw entry)`` of every raw message moto stored, in order."""
    return [(entry["id"], message_from_string(entry["raw_data"], policy=default), entry)
            for entry in aws.raw_messages()]
