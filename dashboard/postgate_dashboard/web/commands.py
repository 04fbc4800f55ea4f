"""``postgate dashboard create-user`` and ``reset-2fa``: accounts from the command line."""

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
