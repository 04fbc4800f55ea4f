"""The hook implementations of the mailgun relay (entry point ``mailgun_relay``)."""

from __future__ import annotations

from postgate import hookimpl

from .settings import RelaySettings

LABEL = "mailgun_relay"


@hookimpl
def register_settings(register):
    register(LABEL, RelaySettings)


@hookimpl
def register_deliveries(register):
    from .delivery import MailgunDelivery

    register("mailgun", MailgunDelivery)


@hookimpl
def register_event_sources(register):
    from .source import MailgunEventSource

    register(LABEL, MailgunEventSource)


@hookimpl
def register_models(register):
    register(LABEL, "postgate_mailgun.models", "postgate_mailgun.migrations")
