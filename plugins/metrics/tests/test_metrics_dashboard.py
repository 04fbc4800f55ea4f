"""The Grafana dashboard and docs/metrics.md use exactly the names the plugin exposes: every metric
(and label) a dashboard query uses is in a real exposition, and every exposed metric is documented."""

from __future__ import annotations

import json
import re
import time
from email.utils import formatdate
from pathlib import Path

import httpx
from metrics_helpers import DOMAIN, SIMULATOR, ghost_batch, scrape, wait_for

from postgate import Quota, hookimpl
from postgate.builtin.outbox import Outbox
from postgate.testing.fixtures import TEST_KEY
from postgate_metrics import listener_address

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "grafana" / "postgate.json"
METRICS_DOC = ROOT / "docs" / "metrics.md"
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
NAME = re.compile(r"\bpostgate_[A-Za-z0-9_]+")
SELECTOR = re.compile(r"\b(postgate_[A-Za-z0-9_]+)\{([^}]*)\}")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


class QuotaOutbox(Outbox):
    """The outbox reporting a provider quota, as SES does from GetAccount."""

    async def quota(self):
        return Quota(max_24h=50000.0, sent_24h=1200.0, max_rate=14.0, source="test")


class QuotaPlugin:
    @hookimpl
    def register_deliveries(self, register):
        register("quota-outbox", QuotaOutbox)


def queries(node: object) -> list[str]:
    """Every PromQL text of the dashboard: panel ``expr`` fields and template variable queries."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            elif key == "query" and isinstance(value, str) and "postgate_" in value:
                found.append(value)
            else:
                found.extend(queries(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(queries(item))
    return found


def full_exposition(live_server):
    """A real exposition with every metric present: a Ghost batch with bounces and complaints
    sent, one scheduled for later (in flight), a throttle and a pause reported, a quota known."""
    server = live_server(plugins=[QuotaPlugin()], load_entrypoints=True, load_plugins=["metrics"],
                         backends={"delivery": "quota-outbox"},
                         plugin_settings={"metrics": {"listen": "127.0.0.1:0"}})
    addresses = [f"m{i}@example.com" for i in range(3)] + [f"bounce@{SIMULATOR}", f"complaint@{SIMULATOR}"]
    sent = httpx.post(f"{server.url}/v3/{DOMAIN}/messages", data=ghost_batch(addresses), auth=("api", TEST_KEY),
                      timeout=30)
    assert sent.status_code == 200, sent.text
    later = {**ghost_batch(["later@example.com"], email_id="scheduled-email"),
             "o:deliverytime": formatdate(time.time() + 3600, usegmt=True)}  # stays in flight
    scheduled = httpx.post(f"{server.url}/v3/{DOMAIN}/messages", data=later, auth=("api", TEST_KEY), timeout=30)
    assert scheduled.status_code == 200, scheduled.text
    server.gateway.report_delivery_state("throttled", "Maximum sending rate exceeded")
    server.gateway.report_delivery_state("paused", "daily-quota: Daily message quota exceeded", 30.0)
    host, port = listener_address(server.gateway)
    return wait_for(lambda: scrape(f"http://{host}:{port}/metrics"),
                    lambda m: m.value("postgate_sends_total") == len(addresses)
                    and m.value("postgate_suppression_events_total", list="complaints") == 1)


def test_every_dashboard_query_uses_exposed_metrics_and_labels(live_server):
    dashboard = json.loads(DASHBOARD.read_text())
    texts = queries(dashboard)
    assert len(texts) >= 25
    metrics = full_exposition(live_server)
    exposed = metrics.series_names()
    labels: dict[str, set[str]] = {}
    for sample in metrics.samples:
        labels.setdefault(sample.name, set()).update(sample.labels)

    for text in texts:
        bare = STRING.sub('""', text)
        names = set(NAME.findall(bare))
        assert names, f"a dashboard query uses no postgate metric: {text}"
        assert names <= exposed, f"not exposed by the plugin: {sorted(names - exposed)} in {text}"
        for name, matchers in SELECTOR.findall(bare):
            for label in MATCHER.findall(matchers):
                assert label in labels.get(name, set()), f"{name} has no label {label!r}: {text}"
        known = set().union(*(labels.get(n, set()) for n in names))
        for grouping in GROUPING.findall(bare):
            for label in filter(None, (part.strip() for part in grouping.split(","))):
                assert label in known, f"grouping by {label!r}, which none of {sorted(names)} has: {text}"


def test_every_exposed_metric_is_documented_and_every_documented_one_exposed(live_server):
    metrics = full_exposition(live_server)
    exposed = set()
    for family in metrics.families:
        if family.name.endswith("_created"):  # prometheus-client's creation times (single-process mode)
            continue
        exposed.add(family.name + "_total" if family.type == "counter" else family.name)
    documented = set(re.findall(r"^\| `(postgate_[a-z0-9_]+)` \|", METRICS_DOC.read_text(), re.MULTILINE))
    assert exposed == documented
    assert {name for name in exposed if not name.startswith("postgate_")} == set()
