"""The roll-ups' hooks: their tables, keeping them as events are recorded, the backfill command
and Mailgun's metrics API answered from them (served wherever the roll-ups are, web UI or not). Named ``rollups_*`` with ``specname`` so other parts of the package can sit beside them."""

from __future__ import annotations

from postgate import hookimpl

LABEL = "dashboard"

__all__ = ["rollups_events_recorded", "rollups_register_api_routes", "rollups_register_commands",
           "rollups_register_models", "rollups_shutdown"]


@hookimpl(specname="register_models")
def rollups_register_models(register) -> None:
    register(LABEL, "postgate_dashboard.rollups.models", "postgate_dashboard.rollups.migrations")


@hookimpl(specname="events_recorded")
def rollups_events_recorded(gateway, events) -> None:
    from .rollups.buffer import buffer_of

    buffer_of(gateway).add(events)


@hookimpl(specname="shutdown")
async def rollups_shutdown(gateway) -> None:
    from .rollups.buffer import close

    await close(gateway)


@hookimpl(specname="register_commands")
def rollups_register_commands(cli) -> None:
    from .rollups.commands import add_commands

    add_commands(cli)


@hookimpl(specname="register_api_routes")
def rollups_register_api_routes(gateway) -> list:
    from .metrics_api.routes import metrics_blueprint

    return [metrics_blueprint()]
