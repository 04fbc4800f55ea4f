"""The hook implementations of the smtp plugin."""

from __future__ import annotations

from postgate import hookimpl

from .settings import SmtpSettings


@hookimpl
def register_settings(register):
    """``[plugins.smtp]``: the listener's settings and the delivery's (``relay_*``, ``dsn_*``)."""
    register("smtp", SmtpSettings)


# -- SMTP delivery (relay.py, dsn.py, imap_source.py) ------------------------------------------


@hookimpl
def register_deliveries(register):
    from .relay import SmtpDelivery

    register("smtp", SmtpDelivery)


@hookimpl
def register_event_sources(register):
    from .imap_source import DsnEventSource

    register("smtp_dsn", DsnEventSource)


# -- SMTP listener (ingress) ------------------------------------------------------------------


@hookimpl
def register_ingress(register):
    """The SMTP listener, when ``[plugins.smtp] listen`` is set (an entry door with start/stop)."""
    register("smtp", listener_door)


def listener_door(gateway):
    from .listener import SmtpListener

    return SmtpListener(gateway, gateway.plugin_settings("smtp"))
