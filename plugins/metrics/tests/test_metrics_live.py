"""The metrics plugin in a real gateway under Hypercorn: a Ghost batch through the outbox, sent
with the Python ``mailgun`` SDK, shows up in ``/metrics`` exactly as sent."""

from __future__ import annotations

import httpx
from mailgun.client import Client
from metrics_helpers import DOMAIN, SIMULATOR, TOKEN_ENV, ghost_batch, scrape, wait_for

from postgate.testing.fixtures import TEST_KEY
from postgate_metrics import listener_address

MEMBERS = [f"member{i}+news@example.com" for i in range(5)]
SIMULATED = [f"bounce@{SIMULATOR}", f"complaint@{SIMULATOR}", f"success@{SIMULATOR}"]


def start(live_server, **metrics):
    return live_server(load_entrypoints=True, load_plugins=["metrics"],
                       plugin_settings={"metrics": {"listen": "127.0.0.1:0", **metrics}})


def listener_url(server) -> str:
    host, port = listener_address(server.gateway)
    return f"http://{host}:{port}/metrics"


def test_a_ghost_batch_is_counted_as_sent(live_server):
    server = start(live_server)
    client = Client(auth=("api", TEST_KEY), api_url=server.url)
    try:
        sent = client.messages.create(domain=DOMAIN, data=ghost_batch(MEMBERS + SIMULATED))
        assert sent.status_code == 200, sent.text
        refused = client.messages.create(domain=DOMAIN, data={"to": "x@example.com"})  # no from: 400
        assert refused.status_code == 400
    finally:
        client.close()
    url = listener_url(server)
    total = len(MEMBERS) + len(SIMULATED)
    metrics = wait_for(lambda: scrape(url),
                       lambda m: m.value("postgate_sends_total") == total
                       and m.value("postgate_events_recorded_total", event="complained") == 1
                       and "postgate_queue_depth" in m.series_names() and m.value("postgate_queue_depth") == 0)

    assert metrics.value("postgate_batches_accepted_total", domain=DOMAIN) == 1
    assert metrics.value("postgate_recipients_accepted_total", domain=DOMAIN) == total
    outbox = {"domain": DOMAIN, "delivery": "outbox"}
    assert metrics.value("postgate_sends_total", outcome="delivered", **outbox) == total - 1
    assert metrics.value("postgate_sends_total", outcome="failed", **outbox) == 1
    assert metrics.label_values("postgate_sends_total", "outcome") == {"delivered", "failed"}
    assert metrics.value("postgate_send_duration_seconds_count", delivery="outbox") == total
    chunks = metrics.value("postgate_chunk_duration_seconds_count", delivery="outbox")
    assert chunks >= 1
    assert metrics.value("postgate_chunk_duration_seconds_bucket", delivery="outbox", le="+Inf") == chunks
    events = {e: metrics.value("postgate_events_recorded_total", domain=DOMAIN, event=e)
              for e in metrics.label_values("postgate_events_recorded_total", "event")}
    assert events == {"accepted": total, "delivered": total - 1, "failed": 1, "complained": 1}
    assert metrics.value("postgate_suppression_events_total", domain=DOMAIN, list="bounces") == 1
    assert metrics.value("postgate_suppression_events_total", domain=DOMAIN, list="complaints") == 1
    messages = {"route": "/v3/<domain>/messages", "method": "POST"}
    assert metrics.value("postgate_http_requests_total", status="200", **messages) == 1
    assert metrics.value("postgate_http_requests_total", status="400", **messages) == 1
    assert metrics.value("postgate_http_request_duration_seconds_count", **messages) == 2
    assert metrics.value("postgate_delivery_paused", delivery="outbox") == 0
    assert metrics.value("postgate_operations_snapshot_success") == 1
    assert metrics.value("postgate_recipients_in_doubt") == 0 and "postgate_recipients_in_doubt" in metrics.series_names()
    assert metrics.value("postgate_batches_in_flight") == 0
    assert "member0" not in metrics.text and "@" not in metrics.text  # no address is ever a label


def test_routes_are_labelled_by_url_rule_never_by_raw_path(live_server):
    server = start(live_server, token_env=None)
    auth = httpx.BasicAuth("api", TEST_KEY)
    with httpx.Client(base_url=server.url, auth=auth) as http:
        for domain in ("one.example", "two.example", DOMAIN):
            http.get(f"/v3/{domain}/events")
        for n in range(3):
            http.get(f"/no/such/path/{n}")
        http.request("BREW", "/healthcheck")
        http.get("/healthcheck")
    metrics = scrape(listener_url(server))

    routes = metrics.label_values("postgate_http_requests_total", "route")
    assert routes == {"/v3/<domain>/events", "unmatched", "/healthcheck"}
    events = {"route": "/v3/<domain>/events", "method": "GET"}
    assert metrics.value("postgate_http_requests_total", status="404", **events) == 2
    assert metrics.value("postgate_http_requests_total", status="200", **events) == 1
    assert metrics.value("postgate_http_requests_total", route="unmatched", status="404") == 3
    assert metrics.value("postgate_http_requests_total", route="unmatched", method="other") == 1  # BREW: 405
    assert metrics.value("postgate_http_requests_total", route="/healthcheck", method="GET") == 1


def test_throttles_and_pauses_are_counted_and_paused_is_a_gauge(live_server):
    server = start(live_server)
    gateway = server.gateway
    gateway.report_delivery_state("throttled", "Maximum sending rate exceeded; rate lowered to 7/s")
    gateway.report_delivery_state("paused", "daily-quota: Daily message quota exceeded", 60.0)
    paused = scrape(listener_url(server))
    gateway.report_delivery_state("resumed", "the daily quota has room again")
    resumed = scrape(listener_url(server))

    assert paused.value("postgate_delivery_paused", delivery="outbox") == 1
    assert resumed.value("postgate_delivery_paused", delivery="outbox") == 0
    for state in ("throttled", "paused", "resumed"):
        assert resumed.value("postgate_delivery_state_changes_total", delivery="outbox", state=state) == 1
