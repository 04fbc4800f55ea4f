"""The ``postgate`` command line: serve, worker, migrate, makemigrations, status, jobs, plugins,
check-config."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import re
import signal
import socket
import sqlite3
import sys
from importlib.metadata import entry_points
from pathlib import Path

import click
from hypercorn.utils import LifespanFailureError
from tortoise.exceptions import BaseORMException

from .app import Gateway
from .backends import NoDeadLetters
from .logs import configure_logging
from .plugins import ENTRYPOINT_GROUP, build_plugin_manager, load_hint, plugin_rows, unloaded_rows
from .settings import DEFAULT_DOMAIN, ConfigError, Settings, ensure_api_key, load_settings, require_domain_keys
from .web import masked_key

log = logging.getLogger("postgate")


def _load(config: str | None) -> Settings:
    """The settings, with logging set up as they say (``log_format``, ``log_level``)."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings.log_format, settings.log_level)
    return settings


def announce(settings: Settings, text: str) -> None:
    """Tell the operator ``text``: on stdout for a person, or as one log record in JSON mode
    (so every line a JSON log collector sees parses)."""
    if settings.log_format == "json":
        log.info(text.strip())
    else:
        click.echo(text)


def _require_keys(settings: Settings) -> None:
    try:
        require_domain_keys(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _gateway(settings: Settings) -> Gateway:
    try:
        return Gateway(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


config_option = click.option(
    "--config", "-c", type=click.Path(dir_okay=False), default=None, envvar="POSTGATE_CONFIG",
    help="postgate.toml to read (default: $POSTGATE_CONFIG or ./postgate.toml if present)",
)


#: Subcommands that plugins add (``register_commands``), by the plugin's entry-point name.
PLUGIN_COMMANDS = {"aws": "ses", "dashboard": "dashboard", "doctor": "ses", "suppressions": "suppression_audit",
                   "webhooks": "webhooks"}


class PluginAwareGroup(click.Group):
    """A group that, for a plugin's command while that plugin is not loaded, says how to load it."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else None
        plugin = PLUGIN_COMMANDS.get(name or "")
        if plugin and self.get_command(ctx, name) is None:
            installed = {ep.name for ep in entry_points(group=ENTRYPOINT_GROUP)}
            distribution = f"postgate-{plugin.replace('_', '-')}"  # suppression_audit: postgate-suppression-audit
            install = "" if plugin in installed else f"install {distribution} and "
            ctx.fail(f"{name!r} is provided by the {distribution} plugin: {install}add \"{plugin}\" to "
                     f"load_plugins in postgate.toml (or POSTGATE_LOAD_PLUGINS='[\"{plugin}\"]')")
        return super().resolve_command(ctx, args)


@click.group(cls=PluginAwareGroup)
@click.version_option(package_name="postgate")
def cli() -> None:
    """Postgate: Mailgun's API for Ghost and friends, delivering through pluggable providers."""
    configure_logging()  # until a command has read the settings


def quick_start_banner(settings: Settings, domain: str, key: str, generated: bool, url: str) -> str:
    """What ``serve`` prints: where it listens and the Ghost configuration lines to paste.

    The key is shown in full only when it was just generated (the first run); otherwise masked,
    since the banner ends up in every log (journald, ``docker logs``).
    """
    origin = (settings.gateway.public_url or url).rstrip("/")
    key_file = settings.data_dir / "api_key"
    if generated:
        where = f"generated and saved in {key_file}"
    elif key_file.is_file() and key_file.read_text().strip() == key:
        key, where = masked_key(key), f"masked; the full key is in {key_file}"
    else:
        key, where = masked_key(key), "as configured, masked"
    hint = None if settings.gateway.public_url else docker_hint(url)
    return "\n".join([
        "",
        f"Postgate is serving the Mailgun API at {origin} for domain {domain!r} (API key {where}).",
        "Point Ghost at it with these configuration lines (environment variables):",
        "",
        f"  bulkEmail__mailgun__baseUrl={origin}/v3",
        f"  bulkEmail__mailgun__apiKey={key}",
        f"  bulkEmail__mailgun__domain={domain}",
        "",
        *([hint, ""] if hint else []),
    ])


def docker_hint(url: str) -> str | None:
    """How Ghost in a Docker container reaches a gateway listening at ``url`` (docs/deploy.md)."""
    address, _, port_text = url.split("://", 1)[-1].rstrip("/").rpartition(":")
    host, port = address.strip("[]"), int(port_text) if port_text.isdigit() else 3000
    if host in ("0.0.0.0", "::", ""):
        return (f"Listening on every interface: Ghost in a container uses this host's name instead "
                f"(compose: http://postgate:{port}/v3; Docker on this machine: "
                f"http://host.docker.internal:{port}/v3).")
    if host == "localhost" or host.startswith("127.") or host == "::1":
        return (f"Ghost in a Docker container cannot reach {host}: start with --host 0.0.0.0 "
                f"(or POSTGATE_GATEWAY__HOST=0.0.0.0) and use http://host.docker.internal:{port}/v3.")
    return None


def ensure_port_free(host: str, port: int) -> None:
    """Stop with one clear line when ``host:port`` cannot be listened on (Hypercorn would hang)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}; "
                                   "pick another address with --host or POSTGATE_GATEWAY__HOST") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                reason = f"port {port} is already in use on {host}"
            else:
                reason = f"cannot listen on {host}:{port}: {exc.strerror}"
            raise click.ClickException(
                f"{reason}; pick another port with --port (e.g. `postgate serve --port {port + 1}`) "
                "or POSTGATE_GATEWAY__PORT, or set port under [gateway] in postgate.toml") from None


def quick_start_notice(settings: Settings) -> str | None:
    """Why the quick-start domain is not served, when ``[domains]`` turned it off."""
    if settings.domains and not settings.domain and settings.api_key is None:
        return (f"the quick-start domain {DEFAULT_DOMAIN!r} is off because [domains] is configured; "
                "serving only: " + ", ".join(sorted(settings.domains))
                + " (set domain / POSTGATE_DOMAIN to keep a quick-start domain)")
    return None


@cli.command()
@config_option
@click.option("--host", default=None, help="address to listen on (default: gateway.host)")
@click.option("--port", type=int, default=None, help="port to listen on (default: gateway.port)")
@click.option("--workers", type=int, default=None,
              help="worker loops in this process, or in each worker process (0: API only)")
@click.option("--worker-processes", type=click.IntRange(min=0), default=None,
              help="worker processes to start and supervise (default: gateway.worker_processes; one per core)")
def serve(config: str | None, host: str | None, port: int | None, workers: int | None,
          worker_processes: int | None) -> None:
    """Serve the Mailgun API (with workers in the same process, or in worker processes it supervises)."""
    from .server import serve_app
    from .supervisor import WorkerProcesses
    from .web import create_app

    settings = _load(config)
    if workers is not None:
        settings.gateway.workers = workers
    if worker_processes is not None:
        settings.gateway.worker_processes = worker_processes
    host = host or settings.gateway.host
    port = port or settings.gateway.port
    # what the gateway says about itself (the events' storage.url) names the address it serves on
    settings.gateway.host, settings.gateway.port = host, port
    _require_keys(settings)
    ensure_port_free(host, port)
    domain, key, generated = (None, None, False)
    if not settings.domains or settings.domain:
        domain, key, generated = ensure_api_key(settings)
    gateway = _gateway(settings)
    processes = settings.gateway.worker_processes if settings.gateway.workers > 0 else 0
    try:  # plugins check their settings as they add routes (e.g. the tracking plugin's keys)
        app = create_app(gateway, background=False if processes else None)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if processes:
        children = WorkerProcesses(processes, settings.gateway.workers, config,
                                   env={"POSTGATE_GATEWAY__HOST": host, "POSTGATE_GATEWAY__PORT": str(port)})
        app.before_serving(children.start)  # after the gateway started (and migrated)
        app.after_serving(children.stop)
    if domain and key:
        announce(settings, quick_start_banner(settings, domain, key, generated, f"http://{host}:{port}"))
    else:
        announce(settings, f"Postgate is serving the Mailgun API at http://{host}:{port}")
        if notice := quick_start_notice(settings):
            announce(settings, notice)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_app(app, host, port, stop.wait)

    try:
        asyncio.run(main())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except LifespanFailureError as exc:  # a start-up hook failed: say why in one line
        raise click.ClickException(startup_failure(exc)) from None


def startup_failure(exc: LifespanFailureError) -> str:
    """The reason a start-up failed, without Hypercorn's wrapping ("Lifespan failure in startup. '…'")."""
    found = re.fullmatch(r"Lifespan failure in \w+\. '(.*)'", str(exc), re.DOTALL)
    return f"start-up failed: {found[1] if found else exc}"


def _root_cause(exc: BaseException) -> BaseException:
    """The first error in ``exc``'s chain (the driver's, under the ORM's wrappers)."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


def storage_failure(storage: str, exc: BaseException) -> str:
    """One line saying why the storage could not be reached and how to fix it."""
    cause = _root_cause(exc)
    args = getattr(cause, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    detail = str(args[1]) if code is not None and len(args) > 1 else str(cause) or type(cause).__name__
    if isinstance(cause, OSError) and cause.filename:
        detail += f": {cause.filename}"
    where = f"[plugins.{storage}] in postgate.toml (or POSTGATE_PLUGINS__{storage.upper()}__…)"
    if code == 1049:
        fix = "create the database first (CREATE DATABASE … CHARACTER SET utf8mb4), or fix its name in " + where
    elif code in (1044, 1045):
        fix = "check the user and password in " + where
    elif code in (2002, 2003, 2005) or isinstance(cause, (ConnectionError, socket.gaierror)):
        fix = "is the database server running and reachable? check host and port in " + where
    elif storage == "sqlite":
        fix = "check that the database file's folder exists and is writable (data_dir or [plugins.sqlite] path)"
    else:
        fix = "check " + where
    return f"cannot open the {storage} storage: {detail}; {fix}"


@cli.command()
@config_option
@click.option("--workers", type=int, default=None, help="worker loops (default: gateway.workers, at least 1)")
def worker(config: str | None, workers: int | None) -> None:
    """Run workers only: deliver queued mail and consume provider events."""
    from .supervisor import stop_when_orphaned

    settings = _load(config)
    gateway = _gateway(settings)
    count = workers if workers is not None else max(1, settings.gateway.workers)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with gateway:
            gateway.start_background(workers=count)
            announce(settings, f"Postgate worker running with {count} worker loop(s); Ctrl-C to stop")
            orphaned = asyncio.create_task(stop_when_orphaned(stop))
            await stop.wait()
            orphaned.cancel()

    try:
        asyncio.run(main())
    except ConfigError as exc:  # a plugin refusing its settings as it starts (tracking without keys)
        raise click.ClickException(str(exc)) from None


@cli.command()
@config_option
def migrate(config: str | None) -> None:
    """Apply pending storage migrations."""
    settings = _load(config)
    settings.gateway.migrate_on_start = False
    gateway = _gateway(settings)

    async def main() -> list[str]:
        await gateway.start()
        try:
            return await gateway.storage.migrate()
        finally:
            await gateway.stop()

    storage = settings.backends.storage
    try:
        applied = asyncio.run(main())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except (BaseORMException, OSError) as exc:
        raise click.ClickException(storage_failure(storage, exc)) from None
    if applied:
        click.echo(f"applied {len(applied)} migration(s) to {storage}: " + ", ".join(applied))
    else:
        click.echo(f"{storage} storage is up to date")


MIGRATION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@cli.command()
@config_option
@click.argument("app_label")
@click.option("--name", default="update", show_default=True,
              help="what the migration does, in a few words (a-z, 0-9, _)")
def makemigrations(config: str | None, app_label: str, name: str) -> None:
    """Write a plugin app's next migration, for sqlite and mysql (for plugin authors)."""
    from .storage.makemigrations import make_migrations

    if not MIGRATION_NAME.match(name):
        raise click.BadParameter("use lower-case letters, digits and _ (at most 40)", param_hint="--name")
    gateway = _gateway(_load(config))
    try:
        app = gateway.model_apps.get(app_label)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    written = asyncio.run(make_migrations(app, name))
    if not written:
        click.echo(f"{app_label}: the models match the newest migration; nothing written")
    for path in written:
        click.echo(f"wrote {path}")


@cli.command()
@config_option
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
def backup(config: str | None, destination: Path) -> None:
    """Copy the SQLite storage to DESTINATION, safely while Postgate runs (SQLite's online backup).
    For MySQL/MariaDB use `mysqldump --single-transaction` (docs/operations.md)."""
    from .backup import backup_sqlite, sqlite_path

    settings = _load(config)
    storage = settings.backends.storage
    if storage != "sqlite":
        raise click.ClickException(
            f"`postgate backup` copies the sqlite storage; this configuration uses {storage!r}: back it up "
            "with its own tools (for mysql: mysqldump --single-transaction, see docs/operations.md)")
    try:
        source = sqlite_path(settings)
        pages = backup_sqlite(source, destination)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except sqlite3.Error as exc:
        raise click.ClickException(f"backup of {source} failed: {exc}") from None
    click.echo(f"backed up {source} to {destination} ({pages} pages)")


@cli.command()
@config_option
@click.option("--all", "show_all", is_flag=True, help="include built-in plugins")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def plugins(config: str | None, show_all: bool, as_json: bool) -> None:
    """List loaded plugins with their versions and hooks, then installed ones not loaded and how
    to load them."""
    settings = _load(config)
    try:
        pm = build_plugin_manager(settings.load_plugins, settings.disable_plugins)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    rows = plugin_rows(pm, include_builtins=show_all)
    unloaded = unloaded_rows(pm, settings.load_plugins)
    if as_json:
        click.echo(json.dumps(rows + unloaded, indent=2))
        return
    if not rows:
        click.echo("no plugins loaded (built-ins are listed with --all)")
    for row in rows:
        version = row["version"] or "built-in"
        click.echo(f"{row['name']} ({version}): {', '.join(row['hooks'])}")
    if unloaded:
        click.echo("")
        click.echo("installed but not loaded:")
    for row in unloaded:
        click.echo(f"  {row['name']} ({row['distribution'] or '?'} {row['version'] or ''}".rstrip() + ")")
        click.echo(f"      load it with: {load_hint(row['load_plugins'])}")


@cli.command("check-config")
@config_option
def check_config(config: str | None) -> None:
    """Validate the configuration and plugins without starting anything."""
    settings = _load(config)
    _require_keys(settings)
    gateway = _gateway(settings)
    if problems := gateway.config_problems():  # what start-up would refuse, found without building the app
        raise click.ClickException("\n".join(problems))
    backends = settings.backends
    click.echo("configuration is valid")
    click.echo(f"  storage: {backends.storage}, queue: {backends.queue}, delivery: {backends.delivery}, "
               f"event sources: {', '.join(backends.event_sources) or 'none'}")
    for domain, key in gateway.domains.items():
        state = "key set" if key else "no key yet (generated by `postgate serve`)" if domain == (
            settings.domain or "localhost") else "NO KEY"
        click.echo(f"  domain {domain}: {state}")
    if notice := quick_start_notice(settings):
        click.echo(f"  {notice}")


#: Escape sequence that clears the terminal and moves the cursor home (``status --watch``).
CLEAR_SCREEN = "\033[2J\033[H"


@cli.command()
@config_option
@click.option("--watch", "-w", is_flag=True, help="refresh until Ctrl-C")
@click.option("--interval", "-n", type=click.FloatRange(min=0.2), default=2.0, show_default=True,
              help="seconds between refreshes with --watch")
@click.option("--json", "as_json", is_flag=True, help="print the snapshot as JSON (one object per refresh)")
def status(config: str | None, watch: bool, interval: float, as_json: bool) -> None:
    """Queue depth, newsletters in flight with their progress, recipients in doubt, provider quota.

    Reads the shared storage and queue, so it shows what `postgate serve` and `postgate worker`
    processes are doing (docs/operations-status.md)."""
    from .status_view import render

    def show(snapshot) -> None:
        if as_json:
            click.echo(json.dumps(snapshot.to_dict()))
        elif watch:
            click.echo(CLEAR_SCREEN + render(snapshot) + f"\n\nEvery {interval:g} s; Ctrl-C to stop.")
        else:
            click.echo(render(snapshot))

    async def work(gateway: Gateway) -> None:
        show(await gateway.operations_snapshot())
        while watch:
            await asyncio.sleep(interval)
            show(await gateway.operations_snapshot())

    try:
        _run_with_gateway(config, work)
    except KeyboardInterrupt:
        if not watch:
            raise
    except (BaseORMException, OSError) as exc:
        raise click.ClickException(storage_failure(_load(config).backends.storage, exc)) from None


@cli.group()
def jobs() -> None:
    """Dead-lettered jobs: list, inspect and retry them (docs/operations-jobs.md)."""


def _run_with_gateway(config: str | None, work):
    """Start a gateway (storage and queue; no workers), run ``work(gateway)``, stop it."""
    settings = _load(config)
    gateway = _gateway(settings)

    async def main():
        async with gateway:
            return await work(gateway)

    try:
        return asyncio.run(main())
    except (ConfigError, NoDeadLetters) as exc:
        raise click.ClickException(str(exc)) from None


async def _dead_rows(gateway: Gateway, dead_jobs) -> list[dict]:
    rows = []
    for dead in dead_jobs:
        batch = await gateway.storage.get_batch(dead.job.batch_id)
        rows.append({
            "id": dead.id, "batch": dead.job.batch_id, "first_id": dead.job.first_id,
            "last_id": dead.job.last_id, "domain": batch.domain if batch else None,
            "attempts": dead.failures, "reason": dead.reason, "dead_at": dead.dead_at,
        })
    return rows


def _printable(text: str) -> str:
    """``text`` with control and other unprintable characters escaped (no terminal tricks)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "unknown"
    import datetime

    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@jobs.command("dead")
@config_option
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True,
              help="most dead jobs to list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def jobs_dead(config: str | None, limit: int, as_json: bool) -> None:
    """List dead-lettered jobs, oldest first."""

    async def work(gateway: Gateway) -> list[dict]:
        return await _dead_rows(gateway, await gateway.queue.list_dead(limit))

    rows = _run_with_gateway(config, work)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no dead-lettered jobs")
        return
    click.echo("ID\tBATCH\tDOMAIN\tATTEMPTS\tWHEN\tREASON")
    for row in rows:
        batch = str(row["batch"])
        if row["first_id"] is not None:
            batch += f":{row['first_id']}-{row['last_id'] or ''}"
        cells = [row["id"], batch, row["domain"] or "?", str(row["attempts"]), _when(row["dead_at"]), row["reason"]]
        click.echo("\t".join(_printable(cell) for cell in cells))


@jobs.command("show")
@config_option
@click.argument("job_id")
def jobs_show(config: str | None, job_id: str) -> None:
    """Show one dead-lettered job and where its recipients stand."""
    from .dead_letters import ledger_summary

    async def work(gateway: Gateway) -> dict | None:
        dead = await gateway.queue.get_dead(job_id)
        if dead is None:
            return None
        [row] = await _dead_rows(gateway, [dead])
        row["recipients"] = await ledger_summary(gateway, dead.job.batch_id, dead.job.first_id,
                                                 dead.job.last_id)
        return row

    row = _run_with_gateway(config, work)
    if row is None:
        raise click.ClickException(f"no dead-lettered job {job_id!r} (see `postgate jobs dead`)")
    click.echo(json.dumps(row, indent=2))


@jobs.command("retry")
@config_option
@click.argument("job_id")
def jobs_retry(config: str | None, job_id: str) -> None:
    """Re-drive a dead-lettered job: the recipients it failed are queued again (never the ones
    already sent, delivered, suppressed or failed for another reason) and the job goes back."""
    from .dead_letters import reset_dead_lettered

    async def work(gateway: Gateway):
        dead = await gateway.queue.get_dead(job_id)
        if dead is None:
            return None
        reset = await reset_dead_lettered(gateway, dead)  # before the job can be received again
        if await gateway.queue.redrive(job_id) is None:
            raise click.ClickException(f"job {job_id} left the dead-letter place meanwhile; "
                                       f"{reset} recipients were queued again")
        return dead, reset

    done = _run_with_gateway(config, work)
    if done is None:
        raise click.ClickException(f"no dead-lettered job {job_id!r} (see `postgate jobs dead`)")
    dead, reset = done
    click.echo(f"job {dead.id} (batch {dead.job.batch_id}) is queued again; {reset} recipient(s) "
               "will be retried")


def register_plugin_commands(group: click.Group) -> None:
    """Let loaded plugins add subcommands (``register_commands``)."""
    try:
        settings = load_settings()
        pm = build_plugin_manager(settings.load_plugins, settings.disable_plugins)
    except ConfigError:
        return
    pm.hook.register_commands(cli=group)


def main() -> None:
    register_plugin_commands(cli)
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["cli", "main"]
