"""The hook implementations of the webhooks plugin (entry point ``webhooks``)."""

from __future__ import annotations

from typing import Any

from postgate import hookimpl

from . import LABEL
from .dashboard_page import dashboard_pages  # noqa: F401 - the dashboard's Webhooks page (when it is loaded)
from .settings import WebhooksSettings
from .state import NAME, webhooks_for


@hookimpl
def register_settings(register) -> None:
    register(NAME, WebhooksSettings)


@hookimpl
def register_models(register) -> None:
    register(LABEL, "postgate_webhooks.models", "postgate_webhooks.migrations")


@hookimpl
def register_api_routes(gateway: Any):
    from .api import webhooks_blueprint

    return [webhooks_blueprint(gateway)]


@hookimpl
async def events_recorded(gateway: Any, events: list[Any]) -> None:
    from .fanout import enqueue_events

    await enqueue_events(gateway, events)


@hookimpl
def background_started(gateway: Any, serving: bool) -> None:
    """Deliver where background work runs, as ``deliver`` says; commands that only start the
    gateway (``postgate status``, ``postgate backup``) never reach here."""
    from .dispatcher import Dispatcher

    state = webhooks_for(gateway)
    if state.dispatcher is not None or state.quiet or not state.settings.delivers_here(serving):
        return
    state.dispatcher = Dispatcher(gateway, state.settings)
    state.dispatcher.start()


@hookimpl
async def shutdown(gateway: Any) -> None:
    state = webhooks_for(gateway)
    if state.dispatcher is not None:
        dispatcher, state.dispatcher = state.dispatcher, None
        await dispatcher.stop()


@hookimpl
def register_commands(cli) -> None:
    from .commands import add_commands

    add_commands(cli)
