"""``--only dashboard`` pages: the server time of every dashboard page on a live gateway.

A :class:`~postgate.testing.fixtures.LiveServer` with the dashboard serves its pages over one
keep-alive connection to a signed-in viewer (sign-in form with its CSRF token, like a browser).
For each size N the roll-ups are filled with N events over N/100 newsletters spread over the same
400 days (through the same tally and writer as the live hook, each size on its own domain), and
the same events are stored in the ``events`` table (the timeline reads them). Each page is then
fetched ``reps`` times after one warm-up (fewer, at least 3, once a page has taken
:data:`PAGE_BUDGET_S`); the figure is the dashboard's ``Server-Timing: app`` value (from the
session check to the rendered page), p50 and p95 (nearest rank).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from postgate import Event, Gateway
from postgate.addresses import address_key
from postgate.testing.fixtures import LiveServer, make_settings

from .dashboard import PER_SEND, SPAN_S, failure_events, newsletter_events

EMAIL, PASSWORD = "bench@example.com", "bench password 123"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
TIMING = re.compile(r"\bapp;dur=([0-9.]+)")
EVENT_COLUMNS = ("event_id, domain, recorded_at, event, recipient, recipient_key, message_id, email_id, "
                 "tags, tags_search, severity, reason, event_key, payload")
#: Events per roll-up write and per events INSERT transaction while filling.
FILL_CHUNK = 5000
ROWS_PER_STATEMENT = 500


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def domain_of(size: int) -> str:
    return f"n{size}.example.com"


def _event_row(event: Event) -> tuple[Any, ...]:
    tags = list(event.tags)
    return (secrets.token_urlsafe(16), event.domain, event.recorded_at, event.event, event.recipient,
            address_key(event.recipient) if event.recipient is not None else None, event.message_id, event.email_id, json.dumps(tags), "|" + "|".join(tags) + "|" if tags else "",
            event.severity, event.payload.get("reason"), f"{event.domain}:{event.key}", json.dumps(event.payload, separators=(",", ":")))


async def _store_events(gateway: Gateway, events: list[Event]) -> None:
    marks = "(" + ", ".join("?" * len(EVENT_COLUMNS.split(","))) + ")"
    async with gateway.storage.session(write=True) as db:
        for start in range(0, len(events), ROWS_PER_STATEMENT):
            part = events[start:start + ROWS_PER_STATEMENT]
            await db.execute(f"INSERT INTO events ({EVENT_COLUMNS}) VALUES {', '.join([marks] * len(part))}",
                             [v for e in part for v in _event_row(e)])


def _newsletters(domain: str, sends: int, first_s: int) -> Iterator[Event]:
    for send in range(sends):
        at = first_s + send * (SPAN_S // sends)
        yield from itertools.chain(newsletter_events(send, at, domain=domain), failure_events(send, at, domain=domain))


async def fill(gateway: Gateway, domain: str, sends: int, first_s: int, id_base: int) -> None:
    """Roll up and store ``sends`` newsletters of ``domain``, and put a bounce per send on the
    suppression list (the suppressions page reads it)."""
    from postgate import Suppression
    from postgate_dashboard.rollups.derive import tally
    from postgate_dashboard.rollups.writer import apply

    chunk: list[Event] = []
    for n, event in enumerate(_newsletters(domain, sends, first_s)):
        event.id = id_base + n
        chunk.append(event)
        if len(chunk) >= FILL_CHUNK:
            await _store_events(gateway, chunk)
            await apply(gateway, tally(chunk))
            chunk = []
    if chunk:
        await _store_events(gateway, chunk)
        await apply(gateway, tally(chunk))
    entries = [Suppression(domain, "bounces", f"f{i}@gmail.com", 550, "mailbox unknown") for i in range(sends)]
    for start in range(0, len(entries), 1000):
        await gateway.storage.add_suppressions(entries[start:start + 1000])


def _day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def pages(domain: str, sends: int, now: int) -> dict[str, str]:
    """Every page timed: name -> path and query."""
    latest = f"{sends - 1:024x}"
    year = {"period": "custom", "from": _day(now - 365 * 86_400), "to": _day(now), "res": "month"}

    def at(path: str, **args: str) -> str:
        return f"/dashboard/{path}?" + urlencode({"domain": domain, **args})

    return {
        "overview 7 d by hour": at("overview", period="7d", res="hour"),
        "overview 30 d by day": at("overview", period="30d", res="day"),
        "overview year by month": at("overview", **year),
        "newsletters list": at("sends"),
        "one newsletter": at("send", key=latest),
        "who opened, newest send": at("send/engaged", key=latest, event="opened"),
        "who opened, oldest send": at("send/engaged", key=f"{0:024x}", event="opened", who="all"),
        "providers 30 d": at("providers", period="30d"),
        "bounces 90 d": at("bounces", period="90d"),
        "reputation": at("reputation"),
        "operations": at("operations"),
        "timeline by recipient": at("timeline", q=f"m{(sends - 1) * 7 % 5000}@gmail.com"),
        "timeline by message id": at("timeline", q=f"<{latest}.0@mg.example.com>"),
        "suppressions": at("suppressions", list="bounces"),
    }


def sign_in(client: httpx.Client) -> None:
    form = client.get("/dashboard/login")
    token = CSRF_FIELD.search(form.text)
    assert form.status_code == 200 and token, form.text[:300]
    answer = client.post("/dashboard/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token[1]})
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in answered {answer.status_code}: {answer.text[:300]}")


#: Seconds of requests one page may take; a slower page is timed fewer times (at least 3).
PAGE_BUDGET_S = 20.0


def time_page(client: httpx.Client, path: str, reps: int) -> dict[str, float]:
    server, wall = [], []
    started_page = time.perf_counter()
    for i in range(reps + 1):
        started = time.perf_counter()
        answer = client.get(path)
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
        timing = TIMING.search(answer.headers.get("server-timing", ""))
        if timing is None:
            raise RuntimeError(f"GET {path}: no Server-Timing header")
        if i:  # the first is a warm-up
            server.append(float(timing[1]) / 1000)
            wall.append(elapsed)
        if len(server) >= 3 and time.perf_counter() - started_page > PAGE_BUDGET_S:
            break
    return {"p50": percentile(server, 50), "p95": percentile(server, 95), "wall_p50": percentile(wall, 50),
            "n": len(server)}


def bench_pages(folder: Path, sizes: list[int], reps: int, label: str,
                storage: dict[str, Any] | None) -> list[dict[str, Any]]:
    import postgate_dashboard
    from postgate_dashboard.web.accounts import create_user

    plugins: list[Any] = [postgate_dashboard]
    overrides: dict[str, Any] = {
        "domains": {domain_of(size): {} for size in sizes},
        "plugin_settings": {"dashboard": {"cookie_secure": False}}}
    if storage:
        import postgate_mysql

        plugins.insert(0, postgate_mysql)
        overrides.update(backends={"storage": "mysql"})
        overrides["plugin_settings"]["mysql"] = storage
    gateway = Gateway(make_settings(folder, **overrides), plugins=plugins, load_entrypoints=False)
    server = LiveServer(gateway, background=False).start()
    results = []
    try:
        server.run(create_user(gateway, EMAIL, PASSWORD, "viewer"))
        id_base = 1
        for size in sorted(sizes):
            sends = max(1, size // PER_SEND)
            now = int(time.time())
            started = time.perf_counter()
            server.run(fill(gateway, domain_of(size), sends, now - SPAN_S - 86_400, id_base), timeout=7200)
            id_base += size * 2
            seconds = time.perf_counter() - started
            with httpx.Client(base_url=server.url, timeout=120) as client:  # one keep-alive connection
                sign_in(client)
                figures = {name: time_page(client, path, reps) for name, path in pages(domain_of(size), sends, now).items()}
            results.append({"backend": label, "events": size, "sends": sends, "fill_seconds": seconds, "pages": figures})
            print(f"dashboard pages {label} {size:,} events / {sends:,} sends (filled in {seconds:.0f} s), "
                  f"server time p50 / p95 of {reps}:")
            for name, f in figures.items():
                cut = "" if f["n"] == reps else f"; only {f['n']} requests: over the time budget"
                print(f"  {name:24s} {f['p50'] * 1000:8.2f} / {f['p95'] * 1000:8.2f} ms  (client p50 "
                      f"{f['wall_p50'] * 1000:.2f} ms{cut})")
    finally:
        server.stop()
    if len(results) > 1:
        low, high = results[0], results[-1]
        print(f"dashboard pages {label} ratio of p95, {high['events']:,} vs {low['events']:,}: " + "  ".join(
            f"{name} x{high['pages'][name]['p95'] / low['pages'][name]['p95']:.2f}" for name in low["pages"]))
    return results
