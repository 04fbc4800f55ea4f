"""``postgate dashboard create-user`` and ``reset-2fa`` (accounts from the command line), and
``postgate dashboard status`` (workers alive and the event-ingest lag, as Operations shows them)."""

from __future__ import annotations

import asyncio
import sys

import click

from postgate import ConfigError, create_gateway

from .accounts import ROLES, AccountError, create_user, find_user
from .two_factor import reset_two_factor


def add_commands(cli: click.Group) -> None:
    """Add the ``dashboard`` group (or extend it when another part of the plugin made it)."""
    group = cli.commands.get("dashboard")
    if not isinstance(group, click.Group):
        group = click.Group("dashboard", help="The web dashboard: accounts and tools.")
        cli.add_command(group)
    group.add_command(create_user_command)
    group.add_command(status_command)
    group.add_command(reset_two_factor_command)


def read_password() -> str:
    """From a hidden prompt with confirmation on a terminal, else two lines of standard input."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    first, second = sys.stdin.readline().rstrip("\r\n"), sys.stdin.readline().rstrip("\r\n")
    if first != second:
        raise click.ClickException("the two passwords on standard input differ")
    return first


CONFIG_OPTION = click.option("--config", "-c", type=click.Path(dir_okay=False), default=None,
                             envvar="POSTGATE_CONFIG", help="postgate.toml to read")


@click.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True)
@CONFIG_OPTION
def create_user_command(email: str, role: str, config: str | None) -> None:
    """Create a dashboard account; the password is asked twice (or read as two lines of stdin)."""
    password = read_password()

    async def main() -> None:
        async with create_gateway(config=config) as gateway:
            await create_user(gateway, email, password, role)

    try:
        asyncio.run(main())
    except (AccountError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {email.strip().lower()}")


@click.command("status")
@click.option("--config", "-c", type=click.Path(dir_okay=False), default=None, envvar="POSTGATE_CONFIG",
              help="postgate.toml to read")
def status_command(config: str | None) -> None:
    """Worker loops alive (recent heartbeat) and the event-ingest lag; `postgate status` shows the rest."""
    from ..web_plugin import SETTINGS_NAME
    from .operations_view import operations_page

    async def main() -> dict:
        async with create_gateway(config=config) as gateway:
            settings = gateway.plugin_settings(SETTINGS_NAME)
            return await operations_page(gateway, settings.events_silence_seconds, settings.worker_alive_seconds)

    try:
        page = asyncio.run(main())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(status_text(page))


def status_text(page: dict) -> str:
    """The plain-text lines of ``postgate dashboard status``."""
    lines = [f"workers alive:    {page['workers_alive']}"]
    for w in page["workers"]:
        state = "alive " if w["alive"] else "SILENT"
        lines.append(f"  {state} {w['name']} on {w['host']} pid {w['pid']}: last heartbeat {w['seen']} ago, "
                     f"running {w['up']}")
    lines.append(f"event-ingest lag: {page['ingest_lag']} ({page['ingest_note']})")
    lines.extend(f"! {alert}" for alert in page["alerts"])
    return "\n".join(_printable(line) for line in lines)


def _printable(text: str) -> str:
    """Names come from other processes and the API: escape what could steer the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
@click.command("reset-2fa")
@click.argument("email")
@CONFIG_OPTION
def reset_two_factor_command(email: str, config: str | None) -> None:
    """Turn off an account's two-factor sign-in (a lost phone): its secret and recovery codes go; the
    person signs in with the password alone and may set two-factor up again."""

    async def main() -> bool:
        async with create_gateway(config=config) as gateway:
            account = await find_user(gateway, email)
            if account is None:
                return False
            await reset_two_factor(gateway, account.id)
            return True

    try:
        found = asyncio.run(main())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not found:
        raise click.ClickException(f"no dashboard account has the address {email.strip()[:320]!r}")
    click.echo(f"two-factor sign-in reset for {email.strip().lower()}")
