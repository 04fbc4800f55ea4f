"""One gateway's metrics: the instruments its hooks feed and the exposition ``/metrics`` answers."""

from __future__ import annotations

import asyncio
import weakref

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from postgate import Gateway

from . import multiprocess
from .instruments import Instruments
from .settings import MetricsSettings
from .snapshot import snapshot_registry

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Exporter:
    """Instruments fed by hooks, and :meth:`render` for ``/metrics``.

    Single-process mode keeps the counts in this process's registry. Multiprocess mode writes
    them to ``multiprocess_dir`` and renders the sum of every process's files, so one scrape of
    the API process covers all ``postgate worker`` processes. Gauges read at scrape time are
    computed by the rendering process only, never stored in the shared files, so they are
    never counted twice.
    """

    def __init__(self, settings: MetricsSettings) -> None:
        self.settings = settings
        if settings.multiprocess_dir is not None:
            multiprocess.enable(settings.multiprocess_dir)
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry, str(multiprocess.enabled()))
            self.instruments = Instruments(None)
        else:
            self.registry = CollectorRegistry()
            self.instruments = Instruments(self.registry)
        self.listener: object | None = None
        self.serves_app = False

    async def render(self, gateway: Gateway) -> bytes:
        """The text exposition: event-driven metrics (all processes) and scrape-time gauges."""
        events = await asyncio.to_thread(generate_latest, self.registry)  # reads the shared files
        return events + generate_latest(await snapshot_registry(gateway))


_exporters: weakref.WeakKeyDictionary[Gateway, Exporter] = weakref.WeakKeyDictionary()


def exporter_for(gateway: Gateway) -> Exporter:
    """The gateway's exporter, made on first use from its ``[plugins.metrics]`` settings."""
    exporter = _exporters.get(gateway)
    if exporter is None:
        exporter = _exporters[gateway] = Exporter(gateway.plugin_settings("metrics"))
    return exporter
