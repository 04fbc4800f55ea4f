"""The roll-ups' hooks: their tables, keeping them as events are recorded, and the backfill
command. Named ``rollups_*`` with ``specname`` so other parts of the package can sit beside them."""

from __future__ import annotations

from postgate import hookimpl

LABEL = "dashboard"

__all__ = ["rollups_events_recorded", "rollups_register_commands", "rollups_register_models"]


@hookimpl(specname="register_models")
def rollups_register_models(register) -> None:
    register(LABEL, "postgate_dashboard.rollups.models", "postgate_dashboard.rollups.migrations")


@hookimpl(specname="events_recorded")
async def rollups_events_recorded(gateway, events) -> None:
    from .rollups.derive import tally
    from .rollups.writer import apply

    await apply(gateway, tally(events))


@hookimpl(specname="register_commands")
def rollups_register_commands(cli) -> None:
    from .rollups.commands import add_commands

    add_commands(cli)
