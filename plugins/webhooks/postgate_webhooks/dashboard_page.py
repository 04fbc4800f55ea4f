"""The dashboard's Webhooks page, added through the dashboard's ``dashboard_pages`` hook (so only
where the dashboard is loaded): the log of POSTs made, newest first, filtered by the query string
(domain, webhook, URL, outcome) in keyset pages with a CSV export, the test route's sample POSTs
marked as tests, and per URL its recent outcomes,
failures in a row, pending deliveries, next retry and circuit-breaker state.

It reads the plugin's tables only (``webhooks_attempts``, ``webhooks_deliveries``,
``webhooks_subscriptions``), a bounded number of rows per page."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from postgate import hookimpl

from .commands import _masked, duration_text
from .names import WEBHOOK_NAMES

#: Rows of one page of the log, and of one step of the CSV export.
PAGE_SIZE = 50
EXPORT_STEP = 500
#: Newest POSTs the per-URL summary reads (a bounded read, whatever the log holds).
SUMMARY_WINDOW = 1000
OUTCOMES = ("delivered", "retry", "rejected", "failed", "refused")
#: The outcome filter's extra choice: every POST that did not deliver.
NOT_DELIVERED = "not-delivered"
#: Outcomes the circuit breaker counts as failures (a refused URL never reached the network).
FAILING = ("retry", "failed")
MAX_URL = 2048
_CURSOR = re.compile(r"([0-9]{1,17}(?:\.[0-9]{1,24})?(?:e[-+][0-9]{1,3})?)_([0-9]{1,19})")
CSV_HEADER = ("time_utc", "domain", "webhook", "url", "event_id", "outcome", "status_code", "duration_ms",
              "latency_seconds", "next_retry_utc", "error", "delivery_id", "test")


class FilterError(ValueError):
    """A filter the page cannot use (the message says which)."""


@dataclass(frozen=True, slots=True)
class Filters:
    domain: str = ""
    webhook: str = ""
    url: str = ""
    outcome: str = ""
    #: Keyset cursor: the ``(at, id)`` of the last row of the page before.
    after: tuple[float, int] | None = None

    def args(self) -> dict[str, str]:
        """The filters as query-string arguments (the cursor left out), only those set."""
        found = {"domain": self.domain, "webhook": self.webhook, "url": self.url, "outcome": self.outcome}
        return {k: v for k, v in found.items() if v}


def parse_filters(args: Any, domains: list[str]) -> Filters:
    domain = args.get("domain", "").strip().lower()
    webhook, outcome, url = args.get("webhook", ""), args.get("outcome", ""), args.get("url", "").strip()
    if domain and domain not in domains:
        raise FilterError("no such domain")
    if webhook and webhook not in WEBHOOK_NAMES:
        raise FilterError("no such webhook")
    if outcome and outcome not in (*OUTCOMES, NOT_DELIVERED):
        raise FilterError("no such outcome")
    if len(url) > MAX_URL:
        raise FilterError("the URL is too long")
    after = None
    if args.get("after"):
        match = _CURSOR.fullmatch(args["after"])
        if match is None:
            raise FilterError("the page link is damaged; start again from the first page")
        after = (float(match[1]), int(match[2]))
    return Filters(domain, webhook, url, outcome, after)


def _query(filters: Filters) -> Any:
    """The log's rows the filters select, newest first. With a URL, the (url, at, id) index holds
    exactly that URL's POSTs in page order; a domain filter besides it is compared through
    ``COALESCE`` (the column is never NULL, so the result is the same) so that SQLite, which
    prices both indexes alike, never reads the domain's POSTs in time order instead."""
    from tortoise.expressions import Q
    from tortoise.functions import Coalesce

    from .models import Attempt

    query = Attempt.all()
    if filters.url:
        query = query.filter(url=filters.url)
        if filters.domain:
            query = query.annotate(of_domain=Coalesce("domain", "")).filter(of_domain=filters.domain)
    elif filters.domain:
        query = query.filter(domain=filters.domain)
    if filters.webhook:
        query = query.filter(webhook=filters.webhook)
    if filters.outcome == NOT_DELIVERED:
        query = query.exclude(outcome="delivered")
    elif filters.outcome:
        query = query.filter(outcome=filters.outcome)
    if filters.after is not None:
        at, row_id = filters.after
        query = query.filter(Q(at__lt=at) | Q(at=at, id__lt=row_id))
    return query.order_by("-at", "-id")


def when(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


async def attempt_rows(gateway: Any, filters: Filters, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` POSTs of the log, newest first, each with its duration (the POST's own
    response time), its delivery's latency (from the event's recording to the POST) and, while
    the delivery waits, its next try."""
    from .models import Delivery

    with gateway.storage.orm():
        attempts = await _query(filters).limit(limit)
        ids = list({a.delivery_id for a in attempts})
        deliveries = {row["id"]: row for row in await Delivery.filter(id__in=ids).values(
            "id", "enqueued_at", "next_at", "status")} if ids else {}
    rows, seen = [], set()
    for a in attempts:
        delivery = deliveries.get(a.delivery_id)
        waiting = delivery is not None and delivery["status"] == "pending" and a.delivery_id not in seen
        seen.add(a.delivery_id)
        rows.append({"id": a.id, "at": a.at, "time": when(a.at), "domain": a.domain, "webhook": a.webhook,
                     "url": _masked(a.url), "event_id": a.event_id, "outcome": a.outcome, "status": a.status_code,
                     "duration_ms": a.duration_ms,
                     "latency": max(0.0, a.at - delivery["enqueued_at"]) if delivery else None,
                     "next_at": delivery["next_at"] if waiting and a.outcome == "retry" else None,
                     "error": a.error, "delivery": None if a.test else a.delivery_id, "test": a.test})
    return rows


def cursor(row: dict[str, Any]) -> str:
    """The row's key for the next page's ``after``: the time exactly as stored (``repr`` reads back
    as the same float), then the id."""
    return f"{float(row['at'])!r}_{row['id']}"


def latency_text(seconds: float | None) -> str:
    if seconds is None:
        return "\u2014"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _breakers(gateway: Any) -> Any:
    """This process's delivery loop's circuit breakers (``None`` when it does not deliver)."""
    from .state import webhooks_for

    return getattr(webhooks_for(gateway).dispatcher, "breakers", None)


def breaker_state(gateway: Any, url: str, now: float) -> str | None:
    """The circuit breaker of ``url`` in this process's delivery loop: ``open``, ``trial`` or
    ``closed``; ``None`` when this process does not deliver (the workers' breakers are theirs)."""
    breakers = _breakers(gateway)
    if breakers is None:
        return None
    return "open" if breakers.is_open(url, now) else "trial" if breakers.on_trial(url, now) else "closed"


async def url_rows(gateway: Any, filters: Filters, now: float) -> list[dict[str, Any]]:
    """Per URL (subscribed now, or seen in the newest :data:`SUMMARY_WINDOW` POSTs): its webhooks,
    recent outcomes, failures in a row, pending deliveries and next retry, and breaker state. The
    test route's sample POSTs are left out: the delivery loop's breakers never see them."""
    from tortoise.functions import Count, Min

    from .models import Delivery, Subscription
    from .state import webhooks_for

    urls: dict[str, set[str]] = {}
    outcomes: dict[str, Counter[str]] = {}
    last: dict[str, tuple[str, int | None, float | None]] = {}
    failures: Counter[str] = Counter()
    settled: set[str] = set()  # URLs whose newest success is found: their failures in a row are counted
    recent = dataclasses.replace(filters, outcome="", after=None)
    with gateway.storage.orm():
        subscribed = Subscription.all()
        for name, value in recent.args().items():
            subscribed = subscribed.filter(**{name: value})
        for url, webhook in await subscribed.order_by("domain", "webhook", "position").values_list("url", "webhook"):
            urls.setdefault(url, set()).add(webhook)
        window = await _query(recent).filter(test=False).limit(SUMMARY_WINDOW).values_list("url", "webhook", "outcome", "status_code", "at")
        for url, webhook, outcome, status, at in window:  # newest first
            urls.setdefault(url, set()).add(webhook)
            outcomes.setdefault(url, Counter())[outcome] += 1
            last.setdefault(url, (outcome, status, at))
            if url in settled or outcome not in FAILING:
                settled.add(url)
            else:
                failures[url] += 1
        pending = {row["url"]: row for row in await Delivery.filter(status="pending", url__in=list(urls))
                   .group_by("url").annotate(n=Count("id"), next_at=Min("next_at")).values("url", "n", "next_at")
                   } if urls else {}
    threshold = webhooks_for(gateway).settings.breaker_failures
    rows = []
    for url, webhooks in urls.items():
        outcome, status, at = last.get(url, ("", None, None))
        waiting = pending.get(url)
        rows.append({"url": _masked(url), "raw_url": url, "webhooks": sorted(webhooks, key=WEBHOOK_NAMES.index),
                     "outcomes": dict(outcomes.get(url, {})), "last_outcome": outcome, "last_status": status,
                     "last_at": when(at), "failures": failures[url], "threshold": threshold,
                     "pending": waiting["n"] if waiting else 0,
                     "next_at": when(waiting["next_at"]) if waiting else "",
                     "breaker": breaker_state(gateway, url, now)})
    return rows


async def csv_rows(gateway: Any, filters: Filters) -> AsyncIterator[list[object]]:
    """Every POST the filters select, :data:`EXPORT_STEP` at a time."""
    while True:
        rows = await attempt_rows(gateway, filters, EXPORT_STEP)
        for r in rows:
            yield [r["time"], r["domain"], r["webhook"], r["url"], r["event_id"], r["outcome"], r["status"],
                   r["duration_ms"], None if r["latency"] is None else round(r["latency"], 3), when(r["next_at"]),
                   r["error"], r["delivery"], int(r["test"])]
        if len(rows) < EXPORT_STEP:
            return
        filters = dataclasses.replace(filters, after=(rows[-1]["at"], rows[-1]["id"]))


def attempts_blueprint(gateway: Any, pages: Any) -> Any:
    from quart import Blueprint, Response, abort, request, url_for

    bp = Blueprint("webhooks", __name__)

    def domains() -> list[str]:
        return sorted(gateway.domains)

    @bp.get("/webhooks")
    async def attempts() -> Response:
        context: dict[str, Any] = {"domains": domains(), "webhooks": WEBHOOK_NAMES, "outcomes": OUTCOMES,
                                   "not_delivered": NOT_DELIVERED, "window": SUMMARY_WINDOW, "rows": [], "urls": [],
                                   "error": None, "next_url": None, "first_url": None, "csv_url": None}
        try:
            filters = parse_filters(request.args, domains())
        except FilterError as exc:
            return await pages.render("webhooks/attempts.html", status=400, **{**context, "error": str(exc)},
                                      filters=Filters(), delivers_here=False)
        rows = await attempt_rows(gateway, filters, PAGE_SIZE + 1)
        more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
        for row in rows:
            row["latency_text"], row["next_retry"] = latency_text(row["latency"]), when(row["next_at"])
            row["duration_text"] = duration_text(row["duration_ms"], "\u2014")
        shown, now = filters.args(), gateway.now()
        context.update(
            filters=filters, rows=rows, urls=await url_rows(gateway, filters, now),
            delivers_here=_breakers(gateway) is not None,
            next_url="?" + urlencode({**shown, "after": cursor(rows[-1])}) if more else None,
            first_url="?" + urlencode(shown) if filters.after else None,
            csv_url=url_for(".attempts_csv") + ("?" + urlencode(shown) if shown else ""))
        return await pages.render("webhooks/attempts.html", **context)

    @bp.get("/webhooks.csv")
    async def attempts_csv() -> Response:
        try:
            filters = parse_filters(request.args, domains())
        except FilterError:
            abort(400)
        name = "webhook-attempts-" + (filters.domain or "all")
        return pages.csv_response(name, CSV_HEADER, csv_rows(gateway, dataclasses.replace(filters, after=None)))

    return bp


@hookimpl(optionalhook=True)
def dashboard_pages(gateway: Any, pages: Any) -> None:
    """The Webhooks page (the dashboard calls this when it is loaded)."""
    from jinja2 import PackageLoader

    pages.add(attempts_blueprint(gateway, pages), nav=[("Webhooks", "attempts")],
              templates=PackageLoader("postgate_webhooks", "dashboard_templates"))
