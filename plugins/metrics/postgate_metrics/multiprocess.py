"""prometheus-client's multiprocess mode, switched on from ``[plugins.metrics] multiprocess_dir``.

Each process writes its counters and histograms to memory-mapped files in the shared folder; the
process serving ``/metrics`` adds every file up at scrape time. The mode is process-wide (that is
how prometheus-client works): it is chosen once, before the plugin creates its first metric.

Files are named after the process, and prometheus-client's default name, the pid, is not unique
across containers (each one's process may be pid 1). Postgate names them ``<host>-<pid>`` instead:
distinct for concurrent processes on one host and across containers sharing a volume.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from prometheus_client import values
from prometheus_client.multiprocess import mark_process_dead

from postgate import ConfigError

ENV = "PROMETHEUS_MULTIPROC_DIR"

_HOST = socket.gethostname().replace("_", "-") or "host"
_enabled: Path | None = None


def process_identity() -> str:
    """This process's name in the shared folder: ``<host>-<pid>`` (no ``_``, which the file names split on)."""
    return f"{_HOST}-{os.getpid()}"


def enable(folder: Path) -> None:
    """Switch this process to multiprocess mode on ``folder`` (idempotent for the same folder)."""
    global _enabled
    folder = folder.resolve()
    if _enabled is not None:
        if _enabled != folder:
            raise ConfigError(f"[plugins.metrics] multiprocess_dir: this process already writes metrics to "
                              f"{_enabled}, it cannot switch to {folder}")
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"[plugins.metrics] multiprocess_dir {folder}: cannot create it ({exc.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"[plugins.metrics] multiprocess_dir {folder} is not writable by this process")
    os.environ[ENV] = str(folder)  # read by prometheus-client whenever a labelled child is created
    values.ValueClass = values.MultiProcessValue(process_identity)
    _enabled = folder


def enabled() -> Path | None:
    """The shared folder when this process is in multiprocess mode."""
    return _enabled


def retire() -> None:
    """On a clean exit: drop this process's files of live gauges (``paused``), which must not
    outlive it. Counters and histograms stay, so totals never go down."""
    if _enabled is not None:
        mark_process_dead(process_identity(), str(_enabled))
