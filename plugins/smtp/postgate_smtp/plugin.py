"""The hook implementations of the smtp plugin."""

from __future__ import annotations

from postgate import hookimpl

from .settings import SmtpSettings


@hookimpl
def register_settings(register):
    register("smtp", SmtpSettings)


# -- SMTP listener (ingress) ------------------------------------------------------------------


@hookimpl
def register_ingress(register):
    """The SMTP listener, when ``[plugins.smtp] listen`` is set (an entry door with start/stop)."""
    register("smtp", listener_door)


def listener_door(gateway):
    from .listener import SmtpListener

    return SmtpListener(gateway, gateway.plugin_settings("smtp"))
