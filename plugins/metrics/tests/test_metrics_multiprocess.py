"""Multiprocess mode: the API process and ``postgate worker`` processes write to one shared
folder, and one scrape of the API's listener adds them all up (counts of a worker that has
exited included, so totals never go down)."""

from __future__ import annotations

import pytest
from metrics_helpers import DOMAIN, ghost_batch, scrape, wait_for
from metrics_stack import Stack


@pytest.fixture
def stack(tmp_path):
    stack = Stack(tmp_path, {"multiprocess_dir": str(tmp_path / "metrics")})
    yield stack
    stack.close()


def test_one_scrape_adds_up_the_api_and_every_worker_process(stack):
    first = [f"first{i}@example.com" for i in range(4)]
    second = [f"second{i}@example.com" for i in range(3)]
    stack.start_api()

    stack.start_worker("worker-a")
    assert stack.post(ghost_batch(first, email_id="first-email")).status_code == 200
    wait_for(lambda: scrape(stack.metrics_url), lambda m: m.value("postgate_sends_total") == len(first))
    assert stack.stop("worker-a") == 0  # its counts stay in the shared folder

    stack.start_worker("worker-b")
    assert stack.post(ghost_batch(second, email_id="second-email")).status_code == 200
    total = len(first) + len(second)
    metrics = wait_for(lambda: scrape(stack.metrics_url),
                       lambda m: m.value("postgate_sends_total") == total)

    # Accepted by the API process, sent by two worker processes, all in one exposition.
    assert metrics.value("postgate_batches_accepted_total", domain=DOMAIN) == 2
    assert metrics.value("postgate_recipients_accepted_total", domain=DOMAIN) == total
    assert metrics.value("postgate_sends_total", domain=DOMAIN, delivery="outbox", outcome="delivered") == total
    assert metrics.value("postgate_send_duration_seconds_count", delivery="outbox") == total
    assert metrics.value("postgate_events_recorded_total", domain=DOMAIN, event="delivered") == total
    assert metrics.value("postgate_http_requests_total", route="/v3/<domain>/messages", status="200") == 2
    # Each metric is one family with no per-process label: the sum, not a sample per process.
    assert not any("pid" in s.labels for s in metrics.samples)
    paused = [s for s in metrics.samples if s.name == "postgate_delivery_paused"]
    assert [(s.labels, s.value) for s in paused] == [({"delivery": "outbox"}, 0.0)]
    names = sorted(path.name for path in (stack.folder / "metrics").iterdir())
    assert any(name.startswith("counter_") for name in names) and len({n.split("_")[-1] for n in names}) >= 3


def test_scrape_time_gauges_come_once_from_the_scraped_process(stack):
    stack.start_api()
    stack.start_worker("worker-a")
    stack.start_worker("worker-b")
    members = [f"m{i}@example.com" for i in range(6)]
    assert stack.post(ghost_batch(members, email_id="sent-email")).status_code == 200
    wait_for(lambda: scrape(stack.metrics_url), lambda m: m.value("postgate_sends_total") == len(members))
    assert stack.stop("worker-a") == 0 and stack.stop("worker-b") == 0

    waiting = [f"w{i}@example.com" for i in range(4)]
    assert stack.post(ghost_batch(waiting, email_id="waiting-email")).status_code == 200  # no worker runs
    metrics = scrape(stack.metrics_url)

    def one(name: str) -> float:
        found = [s for s in metrics.samples if s.name == name]
        assert len(found) == 1, f"{name}: {found}"
        return found[0].value

    assert one("postgate_operations_snapshot_success") == 1
    assert one("postgate_queue_depth") == 1
    assert one("postgate_recipients_in_doubt") == 0
    assert one("postgate_dead_letter_jobs") == 0
    assert one("postgate_batches_in_flight") == 1
    assert one("postgate_batch_recipients_remaining") == len(waiting)
    assert one("postgate_queue_oldest_job_age_seconds") >= 0
    assert metrics.value("postgate_sends_total") == len(members)  # the stopped workers' counts stay
