"""The event-driven metrics: counters and histograms fed by Postgate's hooks.

Labels stay few and bounded: domain (configured sending domains), delivery backend name, outcome,
event type, suppression list, HTTP route (the URL rule, never the raw path), method and status.
No recipient, message id or batch id is ever a label.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.utils import parseaddr

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from postgate import ChunkReport, Event, Message

#: Seconds from handing one message to the provider to its answer (SES: tens of milliseconds).
SEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Seconds one chunk of a batch took, claim to ledger write.
CHUNK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
#: Seconds an HTTP request took (a 1000-recipient Ghost batch: about 50 ms).
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: Outcome label for rows a chunk left unchanged (answer lost: in doubt until settled).
IN_DOUBT = "in_doubt"
#: Methods kept as they are; anything else a client invents is counted as ``other``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Route label of a request no URL rule matched (404, 405): never the raw path.
UNMATCHED = "unmatched"


def recipient_count(message: Message) -> int:
    """Distinct addresses of ``to``, ``cc`` and ``bcc``: the ledger rows the batch got."""
    addresses = {(parseaddr(entry)[1] or entry).strip().lower() for entry in [*message.to, *message.cc, *message.bcc]}
    addresses.discard("")
    return len(addresses)


def suppression_list(event: Event) -> str | None:
    """The list an event puts its recipient on under the built-in rules: hard bounces go on
    ``bounces``, complaints on ``complaints``, unsubscribes on ``unsubscribes``."""
    if event.event == "complained":
        return "complaints"
    if event.event == "unsubscribed":
        return "unsubscribes"
    if event.event == "failed":
        severity = event.payload.get("severity") or event.severity
        if severity == "permanent" and event.payload.get("reason") == "bounce":
            return "bounces"
    return None


class Instruments:
    """Every event-driven metric, registered on ``registry`` (``None`` in multiprocess mode,
    where the shared files are read instead)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry
        self.batches_accepted = Counter(
            "postgate_batches_accepted", "Batches (API calls that queued mail) accepted, by domain.",
            ["domain"], registry=r)
        self.recipients_accepted = Counter(
            "postgate_recipients_accepted", "Recipients of accepted batches, by domain.", ["domain"], registry=r)
        self.sends = Counter(
            "postgate_sends",
            "Recipients handled by a send attempt, by domain, delivery backend and outcome "
            "(delivered, sent, retry, failed, suppressed, in_doubt).",
            ["domain", "delivery", "outcome"], registry=r)
        self.send_seconds = Histogram(
            "postgate_send_duration_seconds", "Seconds from handing a message to the delivery backend to its answer.",
            ["delivery"], buckets=SEND_BUCKETS, registry=r)
        self.chunk_seconds = Histogram(
            "postgate_chunk_duration_seconds", "Seconds a worker spent on one chunk of a batch.",
            ["delivery"], buckets=CHUNK_BUCKETS, registry=r)
        self.state_changes = Counter(
            "postgate_delivery_state_changes",
            "Changes in what the delivery backend may send, by state (throttled, paused, resumed).",
            ["delivery", "state"], registry=r)
        self.paused = Gauge(
            "postgate_delivery_paused", "1 while a delivery backend has paused sending (quota, account), else 0.",
            ["delivery"], multiprocess_mode="livemax", registry=r)
        self.events = Counter(
            "postgate_events_recorded", "Mailgun events stored, by domain and event type.",
            ["domain", "event"], registry=r)
        self.suppressing = Counter(
            "postgate_suppression_events",
            "Events that put an address on a suppression list (hard bounce, complaint, unsubscribe), by list.",
            ["domain", "list"], registry=r)
        self.http_requests = Counter(
            "postgate_http_requests", "HTTP requests answered, by route (URL rule), method and status.",
            ["route", "method", "status"], registry=r)
        self.http_seconds = Histogram(
            "postgate_http_request_duration_seconds", "Seconds to answer an HTTP request, by route and method.",
            ["route", "method"], buckets=HTTP_BUCKETS, registry=r)

    def batch_accepted(self, message: Message) -> None:
        domain = message.domain.lower()
        self.batches_accepted.labels(domain).inc()
        self.recipients_accepted.labels(domain).inc(recipient_count(message))

    def chunk_sent(self, report: ChunkReport) -> None:
        domain = report.domain.lower()
        for outcome, count in report.counts.items():
            if count:
                self.sends.labels(domain, report.delivery, outcome).inc(count)
        if report.unsettled:
            self.sends.labels(domain, report.delivery, IN_DOUBT).inc(report.unsettled)
        self.chunk_seconds.labels(report.delivery).observe(report.seconds)
        sends = self.send_seconds.labels(report.delivery)
        for seconds in report.send_seconds:
            sends.observe(seconds)

    def delivery_state_changed(self, delivery: str, state: str) -> None:
        self.state_changes.labels(delivery, state).inc()
        if state == "paused":
            self.paused.labels(delivery).set(1)
        elif state == "resumed":
            self.paused.labels(delivery).set(0)

    def events_recorded(self, events: Iterable[Event]) -> None:
        for event in events:
            domain = event.domain.lower()
            self.events.labels(domain, event.event).inc()
            if (listed := suppression_list(event)) is not None:
                self.suppressing.labels(domain, listed).inc()

    def http_request(self, route: str | None, method: str, status: int, seconds: float) -> None:
        route = route or UNMATCHED
        method = method.upper() if method.upper() in KNOWN_METHODS else "other"
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_seconds.labels(route, method).observe(seconds)
