"""``postgate suppressions audit``: read the audit trail."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import click

from postgate import ConfigError, create_gateway


def add_commands(cli: click.Group) -> None:
    """Add ``audit`` to the ``suppressions`` group (made here if no one else made it)."""
    group = cli.commands.get("suppressions")
    if not isinstance(group, click.Group):
        group = click.Group("suppressions", help="Suppression lists: tools that work on them.")
        cli.add_command(group)
    group.add_command(audit)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


@click.command()
@click.option("--config", "-c", type=click.Path(dir_okay=False), default=None, envvar="POSTGATE_CONFIG",
              help="postgate.toml to read")
@click.option("--domain", default=None, help="only changes to this sending domain")
@click.option("--address", default=None, help="only changes to this address")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="newest rows shown")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def audit(config: str | None, domain: str | None, address: str | None, limit: int, as_json: bool) -> None:
    """Who changed the suppression lists through the API, newest first."""
    from .trail import entries

    async def main() -> list[dict]:
        async with create_gateway(config=config) as gateway:
            return await entries(gateway, domain=domain, address=address, limit=limit)

    try:
        rows = asyncio.run(main())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no suppression changes recorded")
    for row in rows:
        what = row["address"] if row["address"] is not None else "(whole list)"
        detail = f" tag={row['detail']}" if row["detail"] else ""
        click.echo(f"{_when(row['at'])} {row['action']:<6} {row['domain']} {row['list']} {what}{detail} "
                   f"by {row['api_key']} request {row['request_id']}")
