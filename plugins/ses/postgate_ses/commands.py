"""Command line: ``postgate aws bootstrap`` and ``postgate doctor`` (added by ``register_commands``)."""

from __future__ import annotations

import click
from pydantic import ValidationError

from postgate.settings import ConfigError, describe_validation_error, load_settings

from .bootstrap import Bootstrap, BootstrapError, Clients, Target, render_report, render_steps
from .doctor import Doctor, render

config_option = click.option(
    "--config", "-c", type=click.Path(dir_okay=False), default=None, envvar="POSTGATE_CONFIG",
    help="postgate.toml to read (default: $POSTGATE_CONFIG or ./postgate.toml if present)",
)


def _target(config: str | None) -> Target:
    try:
        return Target.from_settings(load_settings(config))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except ValidationError as exc:  # the [plugins.ses] table
        raise click.ClickException(describe_validation_error(exc).replace("configuration:", "[plugins.ses]:", 1)) from None


@click.group("aws")
def aws_group() -> None:
    """Set up and inspect the AWS side of the SES and SQS plugins."""


@aws_group.command()
@config_option
@click.option("--dry-run", is_flag=True, help="show what exists and what would be created; change nothing")
def bootstrap(config: str | None, dry_run: bool) -> None:
    """Create (or find) the queues, dead-letter queues, SNS topic and subscription, SES identity,
    configuration set and event destination; print the settings, IAM policies and DNS records
    still to do. Safe to run again: existing resources are reported as "exists"."""
    target = _target(config)
    clients = Clients(target.ses, target.sqs_table)
    mode = " (dry run)" if dry_run else ""
    click.echo(f"Postgate AWS bootstrap in {target.ses.region}{mode}:")
    try:
        report = Bootstrap(target, clients, dry_run=dry_run).run()
    except BootstrapError as exc:
        for line in _steps_text(exc.steps):
            click.echo(line)
        raise click.ClickException(f"{exc}\n(see docs/iam.md for the permissions bootstrap needs)") from None
    for line in render_steps(report):
        click.echo(line)
    if not dry_run and not report.changed:
        click.echo("  nothing to change: everything exists")
    for line in render_report(report, target):
        click.echo(line)


def _steps_text(steps: list) -> list[str]:
    return [f"  {s.state}  {s.what} {s.name}".rstrip() + (f"  ({s.detail})" if s.detail else "") for s in steps]


@click.command()
@config_option
@click.option("--probe", is_flag=True, help="publish a test message to the SNS topic and wait for it on the events queue")
@click.option("--probe-timeout", type=float, default=10.0, show_default=True, help="seconds to wait for the probe")
def doctor(config: str | None, probe: bool, probe_timeout: float) -> None:
    """Check credentials, region, sandbox, quotas, identity, DKIM, configuration set, queues and
    the SNS path; print PASS/WARN/FAIL with a fix for each problem. Exits 1 when a check fails."""
    target = _target(config)
    clients = Clients(target.ses, target.sqs_table)
    click.echo(f"Postgate doctor: SES in {target.ses.region}, configuration set {target.ses.configuration_set!r}")
    click.echo("")
    checker = Doctor(target, clients, probe=probe, probe_timeout=probe_timeout)
    for line in render(checker.run()):
        click.echo(line)
    if checker.failed:
        raise click.exceptions.Exit(1)
