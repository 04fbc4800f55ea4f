"""One gateway's metrics: the instruments its hooks feed and the exposition ``/metrics`` answers."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from postgate import Gateway

from . import multiprocess
from .instruments import Instruments
from .settings import MetricsSettings
from .snapshot import snapshot_registry

if TYPE_CHECKING:
    from .listener import MetricsListener

log = logging.getLogger("postgate.metrics")

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
        self.registry = CollectorRegistry()
        if settings.multiprocess_dir is not None:
            multiprocess.enable(settings.multiprocess_dir)
            MultiProcessCollector(self.registry, str(multiprocess.enabled()))
            self.instruments = Instruments(None)  # values go to the shared files, read back above
        else:
            self.instruments = Instruments(self.registry)
        self.listener: MetricsListener | None = None
        self.serves_app = False
        self._warned = False

    def warn_if_unexported(self) -> None:
        """Once: say that this process's sends reach no ``/metrics`` (a ``postgate worker``
        without ``multiprocess_dir``)."""
        if not self._warned and not self.serves_app and multiprocess.enabled() is None:
            self._warned = True
            log.warning("metrics: this process sends but serves no /metrics and [plugins.metrics] "
                        "multiprocess_dir is not set, so its counts are not exported (see docs/metrics.md)")

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
