"""The tracking plugin's hooks (entry point ``tracking``)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from postgate import (Batch, ConfigError, Event, Gateway, HealthCheck, InboundMail, Message, PreparedTemplate, Recipient,
                      hookimpl)

from . import simulated_readers
from .clients import geoip_reader
from .marking import HEAD_KEY, Marked, mark
from .models import TrackedLink
from .domain_switches import mailgun_view, switches
from .settings import DomainTracking, TrackingSettings
from .state import NAME, required_signing_keys, tracking_for
from .tokens import Signer
from .unsubscribe_links import add_unsubscribe_links

LABEL = "tracking"


@hookimpl
def register_settings(register) -> None:
    register(NAME, TrackingSettings)


@hookimpl
def check_config(gateway: Gateway) -> str | None:
    """The signing keys start-up would refuse (``postgate check-config``)."""
    try:
        required_signing_keys(gateway.plugin_settings(NAME))
    except ConfigError as exc:
        return str(exc)
    return None


@hookimpl
def register_models(register) -> None:
    register(LABEL, "postgate_tracking.models", "postgate_tracking.migrations")


@hookimpl
def register_routes(gateway: Gateway):
    from .routes import tracking_blueprint
    from .unsubscribe_routes import unsubscribe_blueprint

    tracking_for(gateway)  # refuse to start on bad keys
    return [tracking_blueprint(gateway), unsubscribe_blueprint(gateway)]


@hookimpl
def wrap_asgi(gateway: Gateway, app: Any) -> Any:
    """Pixel and link hits of cached batches answered before Quart (``fast_path``)."""
    from .fast_path import FastPath

    return FastPath(gateway, app) if tracking_for(gateway).settings.fast_path else None


@hookimpl
def register_api_routes(gateway: Gateway):
    from .tracking_api import tracking_api_blueprint

    return [tracking_api_blueprint(gateway)]


@hookimpl
async def domain_tracking(gateway: Gateway, domain: str) -> dict[str, Any]:
    """What the plugin will really do for the domain's mail (see ``domain_switches``)."""
    state = tracking_for(gateway)
    return mailgun_view(state, await switches(gateway, state, domain))


@hookimpl
async def startup(gateway: Gateway) -> None:
    state = tracking_for(gateway)
    database = state.settings.geoip_database
    if database is not None:
        try:  # open once, off the loop, so a bad path stops start-up here
            await asyncio.to_thread(geoip_reader, database)
        except (OSError, ValueError, RuntimeError) as exc:  # maxminddb: InvalidDatabaseError
            raise ConfigError(f"[plugins.tracking] geoip_database {str(database)!r}: {exc}") from None
    state.recorder.start()
    await simulated_readers.start(gateway)


@hookimpl
async def shutdown(gateway: Gateway) -> None:
    await simulated_readers.stop(gateway)
    await tracking_for(gateway).recorder.stop()


@hookimpl
def health_checks(gateway: Gateway) -> list[HealthCheck]:
    return [HealthCheck("tracking", tracking_for(gateway).recorder.check)]


@hookimpl
def events_recorded(gateway: Gateway, events: list[Event]) -> None:
    simulated_readers.delivered(gateway, events)


def wanted(message: Message, defaults: DomainTracking) -> tuple[bool, bool | str]:
    """Opens and clicks for this message: its own ``o:tracking*`` options, else the domain's defaults."""
    said = message.options.keys()
    opens = message.tracking_opens if {"o:tracking", "o:tracking-opens"} & said else bool(defaults.opens)
    clicks = message.tracking_clicks if {"o:tracking", "o:tracking-clicks"} & said else defaults.clicks
    return opens, clicks or False


@hookimpl
async def prepare_template(gateway: Gateway, batch: Batch, message: Message) -> PreparedTemplate | None:
    """Opens and clicks marked, then the signed unsubscribe links (see ``unsubscribe``)."""
    state = tracking_for(gateway)
    if state.signer is None or message.mime is not None:
        return None
    defaults = await switches(gateway, state, message.domain)  # one read per batch
    prepared = await mark_for_tracking(gateway, batch, message, defaults)
    if not defaults.unsubscribe:
        return prepared
    return add_unsubscribe_links(state.signer, defaults.base_url, batch, message, prepared,
                                 defaults.unsubscribe_mail_domain)


def pixel_on_top(message: Message, defaults: DomainTracking) -> bool:
    said = message.options.get("o:tracking-pixel-location-top")
    return bool(defaults.pixel_top) if said is None else said.lower() in ("yes", "true")


async def mark_for_tracking(gateway: Gateway, batch: Batch, message: Message,
                            defaults: DomainTracking) -> PreparedTemplate | None:
    state = tracking_for(gateway)
    base_url = defaults.base_url
    if state.signer is None or not base_url or message.mime is not None:
        return None
    opens, clicks = wanted(message, defaults)
    if not opens and not clicks:
        return None
    marked = mark(message.html, message.text, base_url=base_url, opens=opens, clicks=clicks,
                  list_unsubscribe=message.header("List-Unsubscribe"), pixel_top=pixel_on_top(message, defaults))
    if not marked.opens and not marked.links:
        return None
    await store_links(gateway, batch.id, marked.links)
    changed = dataclasses.replace(message, html=marked.html, text=marked.text)
    return PreparedTemplate(changed, token_filler(state.signer, batch.id, marked))


async def store_links(gateway: Gateway, batch_id: int, links: list[str]) -> None:
    """The batch's links by index, once (every job of the batch marks the same links)."""
    if not links:
        return
    with gateway.storage.orm():
        if await TrackedLink.filter(batch_id=batch_id).exists():
            return
        await TrackedLink.bulk_create([TrackedLink(batch_id=batch_id, link_index=index, url=url)
                                       for index, url in enumerate(links)], batch_size=500, ignore_conflicts=True)


def token_filler(signer: Signer, batch_id: int, marked: Marked) -> Callable[[Sequence[Recipient]], list[dict[str, str]]]:
    """Each recipient's one placeholder value: the head of its tokens (one MAC), signed for the
    rows rendered together in one pass; the template already holds each token's link part."""

    def fill(rows: Sequence[Recipient]) -> list[dict[str, str]]:
        return [{HEAD_KEY: head} for head in signer.heads(batch_id, [row.id for row in rows], time.time())]

    return fill


@hookimpl
async def claims_recipient(gateway: Gateway, address: str) -> bool | None:
    """Signed unsubscribe addresses at ``unsubscribe_mail_domain`` (see ``unsubscribe_mailbox``)."""
    from .unsubscribe_mailbox import claims

    return await claims(gateway, address)


@hookimpl
async def mail_received(gateway: Gateway, mail: InboundMail) -> None:
    """Mail to a signed unsubscribe address unsubscribes its recipient."""
    from .unsubscribe_mailbox import received

    await received(gateway, mail)
