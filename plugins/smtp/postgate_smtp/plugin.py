"""The hook implementations of the smtp plugin."""

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
