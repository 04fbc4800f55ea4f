"""The plugin's state per gateway: settings, the subscriptions copy and the delivery loop."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from .dispatcher import Dispatcher
from .settings import WebhooksSettings
from .subscriptions import SubscriptionCopy

NAME = "webhooks"


@dataclass(slots=True)
class Webhooks:
    settings: WebhooksSettings
    subscriptions: SubscriptionCopy
    dispatcher: Dispatcher | None = None
    #: Set by the plugin's own commands, which read the tables and deliver nothing.
    quiet: bool = field(default=False)


_STATES: weakref.WeakKeyDictionary[Any, Webhooks] = weakref.WeakKeyDictionary()


def webhooks_for(gateway: Any) -> Webhooks:
    """The gateway's webhooks state, made on first use."""
    state = _STATES.get(gateway)
    if state is None:
        settings: WebhooksSettings = gateway.plugin_settings(NAME)
        state = _STATES[gateway] = Webhooks(settings, SubscriptionCopy(settings.subscriptions_refresh_seconds))
    return state
