"""``postgate webhooks signing-key`` and ``postgate webhooks log``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from postgate import ConfigError, create_gateway

T = TypeVar("T")


def add_commands(cli: click.Group) -> None:
    cli.add_command(webhooks)


def _run(config: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
    """Start a gateway that delivers nothing, run ``work(gateway)`` in its ORM context, stop."""
    from .state import webhooks_for

    async def main() -> T:
        gateway = create_gateway(config=config)
        webhooks_for(gateway).quiet = True
        async with gateway:
            with gateway.storage.orm():
                return await work(gateway)

    try:
        return asyncio.run(main())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _masked(url: str) -> str:
    """The URL with any password in it hidden."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def duration_text(ms: float | None, none: str = "-") -> str:
    """A POST's duration for people: ``0.8 ms``, ``42 ms``, ``1.5 s``; ``none`` when not measured."""
    if ms is None:
        return none
    if ms < 10:
        return f"{ms:.1f} ms"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


config_option = click.option("--config", "-c", type=click.Path(dir_okay=False), default=None,
                             envvar="POSTGATE_CONFIG", help="postgate.toml to read")


@click.group()
def webhooks() -> None:
    """Webhooks: the signing key and the log of POSTs made."""


@webhooks.command("signing-key")
@config_option
@click.option("--domain", default=None, help="the account of this sending domain (default: every account)")
@click.option("--rotate", is_flag=True, help="replace the key with a new one (receivers need the new key)")
def signing_key_command(config: str | None, domain: str | None, rotate: bool) -> None:
    """Show (or rotate) the HTTP signing key webhook receivers verify signatures with."""
    from .signing import account_of, rotate_key, signing_key

    async def work(gateway: Any) -> list[tuple[str, str]]:
        names = gateway.domains
        if domain is not None and domain.lower() not in names:
            raise click.ClickException(f"unknown domain {domain!r} (configured: {', '.join(sorted(names))})")
        accounts = sorted({account_of(names, d) for d in ([domain.lower()] if domain else names)})
        change = rotate_key if rotate else signing_key
        return [(account, await change(account)) for account in accounts]

    for account, key in _run(config, work):
        click.echo(f"{account}\t{key}")


@webhooks.command("log")
@config_option
@click.option("--domain", default=None, help="only POSTs for this sending domain")
@click.option("--failed", is_flag=True, help="only POSTs that did not deliver")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True, help="newest rows shown")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def log_command(config: str | None, domain: str | None, failed: bool, limit: int, as_json: bool) -> None:
    """Webhook POSTs made, newest first: when, outcome, HTTP status, duration, webhook, URL, event id
    (the test route's sample POSTs marked [test])."""
    from .queue import attempts

    async def work(gateway: Any) -> list[dict[str, Any]]:
        rows = await attempts(domain, failed, limit)
        return [{"at": r.at, "domain": r.domain, "webhook": r.webhook, "url": _masked(r.url), "event_id": r.event_id,
                 "status": r.status_code, "duration_ms": r.duration_ms, "outcome": r.outcome, "error": r.error,
                 "delivery": None if r.test else r.delivery_id, "test": r.test}
                for r in rows]

    rows = _run(config, work)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no webhook POSTs recorded")
    for row in rows:
        status = row["status"] if row["status"] is not None else "-"
        error = f" ({row['error']})" if row["error"] else ""
        test = " [test]" if row["test"] else ""
        click.echo(f"{_when(row['at'])} {row['outcome']:<9} {status!s:<3} {duration_text(row['duration_ms']):>8} "
                   f"{row['domain']} {row['webhook']} {row['url']} event {row['event_id']}{error}{test}")
