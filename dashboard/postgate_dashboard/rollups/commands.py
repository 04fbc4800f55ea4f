"""``postgate dashboard backfill``: rebuild the roll-ups from the stored events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import click

from postgate import ConfigError, create_gateway


def add_commands(cli: click.Group) -> None:
    """Add ``backfill`` to the ``dashboard`` group (made here if no one else made it)."""
    group = cli.commands.get("dashboard")
    if not isinstance(group, click.Group):
        group = click.Group("dashboard", help="The dashboard: users, roll-ups.")
        cli.add_command(group)
    group.add_command(backfill)


def _since(value: str | None) -> float | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date or time like 2026-12-01 or 2026-12-01T08:00") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@click.command()
@click.option("--config", "-c", type=click.Path(dir_okay=False), default=None, envvar="POSTGATE_CONFIG",
              help="postgate.toml to read")
@click.option("--domain", default=None, help="only this sending domain (default: every configured one)")
@click.option("--since", default=None, metavar="DATE",
              help="rebuild from this UTC date or time on (ISO 8601); default: everything")
def backfill(config: str | None, domain: str | None, since: str | None) -> None:
    """Rebuild the dashboard's roll-ups from the stored events (clears, then replays; re-runnable)."""
    from .backfill import backfill as rebuild

    start = _since(since)

    async def main() -> list:
        async with create_gateway(config=config) as gateway:
            domains = [domain] if domain else sorted(gateway.settings.domain_keys())
            return [await rebuild(gateway, name, start) for name in domains]

    try:
        done = asyncio.run(main())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    for row in done:
        click.echo(f"{row.domain}: {row.events} events replayed into {row.sends} sends")
