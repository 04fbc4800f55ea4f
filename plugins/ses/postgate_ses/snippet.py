"""The settings ``postgate aws bootstrap`` prints: a whole ``postgate.toml`` that starts the stack.

Pasted as is into an empty file, the snippet is enough for ``postgate migrate`` and ``postgate
serve``: every region is named (a server has no ``AWS_DEFAULT_REGION``), the gateway's address and
``public_url`` are carried over from the configuration bootstrap read, and so are the storage
choice and the quick-start domain. Secrets are never printed: a MySQL password or URL is named as
the environment variable to set instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from postgate.settings import Settings

if TYPE_CHECKING:
    from .bootstrap import BootstrapReport, Target

#: ``[plugins.mysql]`` keys that hold secrets: printed as an instruction, never as a value.
MYSQL_SECRETS = ("password", "url")


@dataclass
class Carried:
    """What bootstrap's configuration says beyond AWS, to be repeated in the snippet."""

    load_plugins: list[str] = field(default_factory=list)
    domain: str | None = None
    has_domains_table: bool = False
    data_dir: str | None = None
    gateway: dict[str, Any] = field(default_factory=dict)
    storage: str = "sqlite"
    storage_table: dict[str, Any] = field(default_factory=dict)
    storage_secrets: list[str] = field(default_factory=list)
    sqs_endpoint_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Carried:
        gateway = {name: getattr(settings.gateway, name)
                   for name in ("public_url", "host", "port") if name in settings.gateway.model_fields_set}
        storage = settings.backends.storage
        table = dict(settings.plugins.get(storage, {})) if storage != "sqlite" else {}
        secrets = [name for name in MYSQL_SECRETS if table.pop(name, None) not in (None, "")]
        return cls(
            load_plugins=list(settings.load_plugins),
            domain=settings.domain,
            has_domains_table=bool(settings.domains),
            data_dir=str(settings.data_dir) if "data_dir" in settings.model_fields_set else None,
            gateway=gateway,
            storage=storage,
            storage_table=table,
            storage_secrets=secrets,
            sqs_endpoint_url=settings.plugins.get("sqs", {}).get("endpoint_url") or None,
        )


def _toml(value: Any) -> str:
    return json.dumps(value)


def _env_value(value: Any) -> str:
    """A value as a shell-safe ``POSTGATE_…`` assignment right-hand side."""
    if isinstance(value, (list, dict, bool)):
        return "'" + json.dumps(value) + "'"
    return str(value)


def settings_snippet(report: BootstrapReport, target: Target) -> tuple[list[str], list[str]]:
    """``postgate.toml`` lines and the same settings as environment variables."""
    ses, carried = target.ses, target.carried
    plugins = list(carried.load_plugins)
    for name in ["ses", "sqs"] if target.use_jobs_queue else ["ses"]:
        if name not in plugins:
            plugins.append(name)
    if carried.storage != "sqlite" and carried.storage not in plugins:
        plugins.append(carried.storage)

    top: dict[str, Any] = {"load_plugins": plugins}
    domain = carried.domain or (None if carried.has_domains_table else ses.sending_domain)
    if domain:
        top["domain"] = domain
    if carried.data_dir:
        top["data_dir"] = carried.data_dir
    backends: dict[str, Any] = {}
    if target.use_jobs_queue:
        backends["queue"] = "sqs"
    backends.update(delivery="ses", event_sources=["ses"])
    if carried.storage != "sqlite":
        backends["storage"] = carried.storage
    gateway = dict(carried.gateway)
    if ses.sns_endpoint and target.public_url:
        gateway["public_url"] = target.public_url
    gateway["job_size"] = 50

    ses_values: dict[str, Any] = {"region": ses.region}
    if ses.endpoint_url:
        ses_values["endpoint_url"] = ses.endpoint_url
    ses_values["configuration_set"] = ses.configuration_set
    if ses.sending_domain:
        ses_values["sending_domain"] = ses.sending_domain
    if report.events and report.events.url:
        ses_values["events_queue_url"] = report.events.url
    if ses.sns_endpoint and report.topic_arn:
        ses_values["sns_endpoint"] = True
        ses_values["sns_topic_arns"] = sorted({*ses.sns_topic_arns, report.topic_arn})
    sqs_values: dict[str, Any] = {}
    if target.use_jobs_queue and report.jobs and report.jobs.url:
        sqs_values["queue_url"] = report.jobs.url
        sqs_values["region"] = report.jobs_region  # a non-AWS URL (moto, LocalStack) names none
        # the jobs queue was made at [plugins.sqs] endpoint_url, else at the SES plugin's one
        if carried.sqs_endpoint_url or ses.endpoint_url:
            sqs_values["endpoint_url"] = carried.sqs_endpoint_url or ses.endpoint_url
        if report.jobs_dlq and report.jobs_dlq.url:
            sqs_values["dead_letter_queue_url"] = report.jobs_dlq.url

    tables: list[tuple[str, str, dict[str, Any]]] = [
        ("backends", "BACKENDS", backends), ("gateway", "GATEWAY", gateway),
        ("plugins.ses", "PLUGINS__SES", ses_values),
    ]
    if sqs_values:
        tables.append(("plugins.sqs", "PLUGINS__SQS", sqs_values))
    if carried.storage_table:
        tables.append((f"plugins.{carried.storage}", f"PLUGINS__{carried.storage.upper()}", carried.storage_table))

    toml = [f"{key} = {_toml(value)}" for key, value in top.items()]
    if carried.has_domains_table:
        toml.append("# and your [domains] table, as it is in the configuration bootstrap read")
    env = [f"POSTGATE_{key.upper()}={_env_value(value)}" for key, value in top.items()]
    for table, prefix, values in tables:
        toml += ["", f"[{table}]"] + [f"{key} = {_toml(value)}" for key, value in values.items()]
        env += [f"POSTGATE_{prefix}__{key.upper()}={_env_value(value)}" for key, value in values.items()]
    for secret in carried.storage_secrets:
        variable = f"POSTGATE_PLUGINS__{carried.storage.upper()}__{secret.upper()}"
        toml.append(f"# {secret}: set {variable} in the environment (not printed here)")
        env.append(f"{variable}=…  # as in the configuration bootstrap read (not printed here)")
    return toml, env
