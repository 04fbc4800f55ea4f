"""postgate-metrics: Prometheus ``/metrics`` for Postgate, correct across worker processes.

Counts come from the observation hooks (batches accepted, chunks sent, delivery states, events
recorded, HTTP requests); queue and quota gauges are read at scrape time. See ``docs/metrics.md``.
"""

from postgate import hookimpl

from . import multiprocess
from .exporter import exporter_for
from .listener import MetricsListener
from .routes import metrics_blueprint
from .settings import MetricsSettings


@hookimpl
def register_settings(register):
    register("metrics", MetricsSettings)


@hookimpl
def register_routes(gateway):
    return [metrics_blueprint(gateway)]


@hookimpl
def startup(gateway):
    exporter = exporter_for(gateway)
    exporter.instruments.paused.labels(gateway.settings.backends.delivery).set(0)
    address = exporter.settings.listen_address()
    if exporter.serves_app and address is not None and exporter.listener is None:
        listener = MetricsListener(gateway, exporter, *address)
        listener.start()
        exporter.listener = listener


@hookimpl
async def shutdown(gateway):
    exporter = exporter_for(gateway)
    listener, exporter.listener = exporter.listener, None
    if listener is not None:
        await listener.stop()
    multiprocess.retire()


@hookimpl
def message_accepted(gateway, message):
    exporter_for(gateway).instruments.batch_accepted(message)


@hookimpl
def chunk_sent(gateway, report):
    exporter = exporter_for(gateway)
    exporter.instruments.chunk_sent(report)
    exporter.warn_if_unexported()


@hookimpl
def delivery_state_changed(gateway, delivery, state):
    exporter_for(gateway).instruments.delivery_state_changed(delivery, state)


@hookimpl
def events_recorded(gateway, events):
    exporter_for(gateway).instruments.events_recorded(events)


def listener_address(gateway):
    """``(host, port)`` of the gateway's separate ``/metrics`` listener, or ``None`` (for tests and
    tools that configured ``listen`` with port 0)."""
    listener = exporter_for(gateway).listener
    return listener.address if listener is not None else None
