"""Postgate plugin: record every suppression change made through the API in its own table.

Each add, CSV import, delete, tag removal and clear becomes rows of ``suppression_audit`` (one
per address) with the masked API key and the request id; ``postgate suppressions audit`` reads
them. The table is this plugin's own tortoise app, migrated by ``postgate migrate``.
"""

from __future__ import annotations

from postgate import hookimpl

LABEL = "suppression_audit"


@hookimpl
def register_models(register) -> None:
    register(LABEL, "postgate_suppression_audit.models", "postgate_suppression_audit.migrations")


@hookimpl
async def suppressions_changed(gateway, changes) -> None:
    from .trail import record

    await record(gateway, changes)


@hookimpl
def register_commands(cli) -> None:
    from .commands import add_commands

    add_commands(cli)
