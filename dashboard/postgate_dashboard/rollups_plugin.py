"""The roll-ups' hooks: their tables, keeping them as events are recorded, the workers'
heartbeats, the backfill command and Mailgun's metrics API answered from them (served wherever the
roll-ups are, web UI or not). Named ``rollups_*`` with ``specname`` so other parts of the package
can sit beside them."""

from __future__ import annotations

from postgate import hookimpl

LABEL = "dashboard"

__all__ = ["rollups_events_recorded", "rollups_register_api_routes", "rollups_register_commands",
           "rollups_register_models", "rollups_shutdown", "rollups_worker_heartbeat"]


@hookimpl(specname="register_models")
def rollups_register_models(register) -> None:
    register(LABEL, "postgate_dashboard.rollups.models", "postgate_dashboard.rollups.migrations")


@hookimpl(specname="events_recorded")
def rollups_events_recorded(gateway, events) -> None:
    from .rollups.buffer import buffer_of

    buffer_of(gateway).add(events)


@hookimpl(specname="worker_heartbeat")
def rollups_worker_heartbeat(gateway, worker, started_at, stopping) -> None:
    """Kept in the dashboard's table (``dashboard_workers``) for "workers alive"."""
    import time

    from .heartbeats import Beat, record_beat

    record_beat(gateway, Beat(worker, started_at, time.time(), stopping))


@hookimpl(specname="shutdown")
async def rollups_shutdown(gateway) -> None:
    from . import heartbeats
    from .rollups.buffer import close

    await close(gateway)
    await heartbeats.close(gateway)


@hookimpl(specname="register_commands")
def rollups_register_commands(cli) -> None:
    from .rollups.commands import add_commands

    add_commands(cli)


@hookimpl(specname="register_api_routes")
def rollups_register_api_routes(gateway) -> list:
    from .metrics_api.routes import metrics_blueprint

    return [metrics_blueprint()]
