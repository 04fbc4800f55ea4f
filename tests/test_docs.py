"""Docs stay true: every hook is documented with its exact signature."""

import inspect
import re
from pathlib import Path

import pytest

from postgate import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOK_DOCS = (ROOT / "docs" / "plugin_hooks.md").read_text()


def hook_names() -> list[str]:
    return sorted(
        name for name, obj in vars(hookspecs).items()
        if inspect.isfunction(obj) and hasattr(obj, "postgate_spec")
    )


def test_there_are_hooks():
    assert "check_api_key" in hook_names()
    assert len(hook_names()) >= 15


@pytest.mark.parametrize("name", hook_names())
def test_hook_is_documented_with_its_signature(name):
    params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    heading = f"### `{name}({params})`"
    assert heading in HOOK_DOCS, f"docs/plugin_hooks.md lacks the heading {heading}"


def test_docs_document_no_hook_that_does_not_exist():
    documented = set(re.findall(r"^### `(\w+)\(", HOOK_DOCS, re.MULTILINE))
    assert documented == set(hook_names())


def test_readme_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme


def documented_in_a_table(name: str, *docs: str) -> bool:
    """Whether ``name`` is in the first cell of a table row of one of ``docs``."""
    row = re.compile(rf"^\| [^|]*`{re.escape(name)}`[^|]*\|", re.MULTILINE)
    return any(row.search((ROOT / "docs" / doc).read_text()) for doc in docs)


def setting_models():
    """``(model, docs)``: each settings model and the documents whose tables document its fields."""
    from postgate.builtin.local_queue import LocalQueueSettings
    from postgate.builtin.outbox import OutboxSettings
    from postgate.builtin.sqlite_storage import SqliteSettings
    from postgate.settings import BackendSettings, DomainSettings, GatewaySettings, Settings
    from postgate_metrics.settings import MetricsSettings
    from postgate_dashboard.web.settings import DashboardSettings
    from postgate_mysql.settings import MysqlSettings
    from postgate_ses.settings import SesSettings
    from postgate_smtp.relay_settings import RelaySettings
    from postgate_sqs.settings import SqsSettings
    from postgate_tracking.reader_settings import SimulateReaders
    from postgate_tracking.settings import DomainTracking, TrackingSettings
    from postgate_smtp.ingress_settings import IngressSettings
    from postgate.builtin.routes import RouteMatch, RouteRule, RoutesSettings
    from postgate_mailgun.settings import RelaySettings as MailgunRelaySettings
    from postgate_webhooks.settings import WebhooksSettings

    core = ("configuration.md",)
    for model, docs in ((Settings, core), (DomainSettings, core), (GatewaySettings, core), (BackendSettings, core),
                        (SqliteSettings, core), (LocalQueueSettings, core), (OutboxSettings, core),
                        (MysqlSettings, core), (SesSettings, ("aws-ses.md", "aws-ses-delivery.md")),
                        (SqsSettings, ("sqs.md",)), (RelaySettings, ("smtp.md",)), (MetricsSettings, ("metrics.md",)),
                        (DashboardSettings, ("dashboard.md",)),
                        (TrackingSettings, ("tracking.md",)), (DomainTracking, ("tracking.md",)),
                        (SimulateReaders, ("tracking.md",)),
                        (IngressSettings, ("smtp.md",)),
                        (RoutesSettings, ("routing.md",)), (RouteRule, ("routing.md",)),
                        (RouteMatch, ("routing.md",)), (MailgunRelaySettings, ("mailgun-relay.md",)),
                        (WebhooksSettings, ("webhooks.md",))):
        yield model, docs


def setting_names():
    for model, docs in setting_models():
        for name in model.model_fields:
            yield model.__name__, name, docs


@pytest.mark.parametrize("model, name, docs", list(setting_names()))
def test_every_setting_is_documented(model, name, docs):
    assert documented_in_a_table(name, *docs), f"docs/{docs[0]} does not document {model}.{name}"


def settings_table_rows(text: str) -> list[str]:
    """The first cell of each row of the settings tables in ``text`` (the tables whose header's
    first cell is "setting")."""
    names: list[str] = []
    in_table = False
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells:
            in_table = False
        elif cells[0].lower() == "setting":
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            names.append(cells[0])
    return names


def documented_settings():
    fields: dict[str, set[str]] = {}
    for model, docs in setting_models():
        for doc in docs:
            fields.setdefault(doc, set()).update(model.model_fields)
    for doc, known in sorted(fields.items()):
        yield doc, known


@pytest.mark.parametrize("doc, known", list(documented_settings()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_documented_setting_exists(doc, known):
    rows = settings_table_rows((ROOT / "docs" / doc).read_text())
    assert rows, f"docs/{doc} has no settings table"
    unknown = unknown_settings(rows, known)
    assert not unknown, f"docs/{doc} documents settings no model of it has: {unknown}"


def unknown_settings(rows: list[str], known: set[str]) -> list[str]:
    return [cell for cell in rows  # a cell names one setting, or several: `a`, `b`
            if not re.fullmatch(r"`\w+`(, `\w+`)*", cell) or set(re.findall(r"\w+", cell)) - known]


def test_the_settings_table_check_bites():
    text = ("| setting | default | meaning |\n| --- | --- | --- |\n| `port` | `3000` | x |\n"
            "| `prot` | `3000` | x |\n| `host`, `nope` | | x |\n\n| line | meaning |\n| `other` | x |\n")
    rows = settings_table_rows(text)
    assert rows == ["`port`", "`prot`", "`host`, `nope`"]
    assert unknown_settings(rows, {"port", "host"}) == ["`prot`", "`host`, `nope`"]
