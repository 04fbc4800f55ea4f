"""``--only dashboard``: what the dashboard's roll-ups cost and what they buy.

1. *ingest*: events recorded per second through ``gateway.record_events`` (calls of 200 Ghost
   events, as a worker records a chunk) on a fresh SQLite gateway without the dashboard and with
   it; five rounds alternate, the best round of each counts; **ratio** = with / without in time
   (and in CPU time of the process over the same spans, steadier on a shared machine).
2. *queries*: the time of the reads the views make (overview of 30 days by day and of a year by
   month, one send's summary, the newest page of sends, 30 days by provider) once the roll-ups
   hold N events over N/100 newsletters spread over the same 400 days (each size on its own
   domain in one database, so the tables hold every size at once). The roll-ups are filled through the same tally and
   writer the live hook uses (the events themselves are not stored: the reads never touch them).
3. *pages*: the server time of every dashboard page on a live gateway (bench/dashboard_pages.py).

``--dashboard-parts`` picks some of ``ingest``, ``reads`` and ``pages``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from postgate import Event, Gateway
from postgate.testing.fixtures import TEST_DOMAIN, make_settings

RECIPIENT_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "example.com",
                     "hotmail.co.uk", "company.example"]
PER_SEND = 100  # events per newsletter: 40 accepted, 40 delivered, 16 opened, 4 clicked
CALL = 200  # events per record_events call


def newsletter_events(send: int, start_s: int, *, recipients: int = 40, domain: str = TEST_DOMAIN) -> Iterator[Event]:
    """About 100 Mailgun-shaped events of one Ghost newsletter sent at ``start_s``."""
    email_id = f"{send:024x}"
    for step, kind, count in (("accepted", "accepted", recipients), ("delivered", "delivered", recipients),
                              ("opened", "opened", recipients * 2 // 5), ("clicked", "clicked", recipients // 10)):
        for i in range(count):
            recipient = f"m{(send * 7 + i) % 5000}@{RECIPIENT_DOMAINS[i % len(RECIPIENT_DOMAINS)]}"
            payload: dict[str, Any] = {
                "event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
                "tags": ["ghost-email", "bulk-email"], "user-variables": {"email-id": email_id},
                "message": {"headers": {"message-id": f"{email_id}.{i}@{TEST_DOMAIN}", "subject": f"Issue {send}"}}}
            if kind in ("opened", "clicked"):
                payload["client-info"] = {"bot": "apple" if i % 5 == 0 else ""}
            if kind == "clicked":  # a Ghost post's links: three of them, one far more clicked
                payload["url"] = f"https://blog.example.com/issue-{send}/" + ("" if i % 3 else f"link-{i % 4}")
            offset = {"accepted": 0, "delivered": 60, "opened": 3600 + i * 600, "clicked": 7200 + i * 900}[step]
            yield Event(domain=domain, event=kind, recipient=recipient, message_id=f"{email_id}.{i}@{TEST_DOMAIN}",
                        payload=payload, key=f"{kind}:{send}:{i}:{uuid.uuid4().hex[:6]}", email_id=email_id,
                        tags=["ghost-email", "bulk-email"], recorded_at=(start_s + offset) * 1_000_000)


#: Failures of each newsletter for the bounce explorer's figures: (severity, reason, code, enhanced).
FAILURES = (("permanent", "bounce", 550, "5.1.1"), ("permanent", "bounce", 554, "5.7.1"),
            ("temporary", "generic", 421, "4.7.0"), ("permanent", "suppress-bounce", 605, ""))


def failure_events(send: int, start_s: int, *, domain: str = TEST_DOMAIN) -> Iterator[Event]:
    """A few failures and a complaint of one newsletter (roll-ups of the reads only, not ingest)."""
    email_id = f"{send:024x}"
    for i, (severity, reason, code, enhanced) in enumerate(FAILURES + ((None, None, None, None),)):
        recipient = f"f{(send * 5 + i) % 5000}@{RECIPIENT_DOMAINS[(send + i) % len(RECIPIENT_DOMAINS)]}"
        kind = "failed" if severity else "complained"
        payload: dict[str, Any] = {"event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
                                   "user-variables": {"email-id": email_id}}
        if severity:
            payload.update(severity=severity, reason=reason, **{"delivery-status": {
                "code": code, **({"enhanced-code": enhanced} if enhanced else {})}})
        yield Event(domain=domain, event=kind, recipient=recipient, message_id=f"{email_id}.f{i}@{TEST_DOMAIN}",
                    payload=payload, key=f"{kind}:{send}:f{i}", email_id=email_id, severity=severity,
                    recorded_at=(start_s + 120 + i * 60) * 1_000_000)


async def _gateway(folder: Path, plugins: list[Any], storage: dict[str, Any] | None) -> Gateway:
    overrides: dict[str, Any] = {}
    if storage:
        overrides.update(backends={"storage": "mysql"}, plugin_settings={"mysql": storage})
    gateway = Gateway(make_settings(folder, **overrides), plugins=plugins, load_entrypoints=False)
    await gateway.start()
    return gateway


def _calls(total: int) -> Iterator[list[Event]]:
    """``total`` events in calls of :data:`CALL`, made as they are needed: a recording process
    holds one call's events at a time, not all of them (the garbage collector's cost depends on it)."""
    call: list[Event] = []
    made = 0
    for send in range(total // PER_SEND + 1):
        for e in newsletter_events(send, 0):
            # Unstamped, so the storage stamps them as it stamps live events.
            call.append(Event(e.domain, e.event, e.recipient, e.message_id, e.payload, e.key, e.email_id, e.tags))
            made += 1
            if len(call) == CALL or made == total:
                yield call
                call = []
            if made == total:
                return


async def _ingest_round(folder: Path, plugins: list[Any], total: int) -> tuple[float, float]:
    """Seconds spent in ``record_events`` (and, with the dashboard, the final roll-up write):
    wall-clock time, and CPU time of the whole process over the same spans (both threads:
    the loop's and SQLite's)."""
    gateway = await _gateway(folder, plugins, None)
    try:
        spent = cpu = 0.0
        for call in _calls(total):
            started, started_cpu = time.perf_counter(), time.process_time()
            await gateway.record_events(call)
            spent += time.perf_counter() - started
            cpu += time.process_time() - started_cpu
        # Roll-up writes run inside the calls above (same loop); the last second's are
        # written here.
        started, started_cpu = time.perf_counter(), time.process_time()
        await _flush(gateway, plugins)
        return spent + time.perf_counter() - started, cpu + time.process_time() - started_cpu
    finally:
        await gateway.stop()


async def _flush(gateway: Gateway, plugins: list[Any]) -> None:
    if plugins:
        from postgate_dashboard.rollups.buffer import flush

        await flush(gateway)


def bench_ingest(workdir: Path, total: int, rounds: int = 5) -> dict[str, float]:
    import postgate_dashboard

    without, with_rollups = [], []
    for r in range(rounds):
        without.append(asyncio.run(_ingest_round(workdir / f"ingest-plain-{r}", [], total)))
        with_rollups.append(asyncio.run(_ingest_round(workdir / f"ingest-dash-{r}", [postgate_dashboard], total)))
    plain, rolled = min(w for w, _ in without), min(w for w, _ in with_rollups)
    plain_cpu, rolled_cpu = min(c for _, c in without), min(c for _, c in with_rollups)
    print(f"dashboard ingest {total:,} events in calls of {CALL}: without roll-ups {total / plain:,.0f}/s, "
          f"with {total / rolled:,.0f}/s  ratio (time) x{rolled / plain:.3f}  ratio (CPU time) "
          f"x{rolled_cpu / plain_cpu:.3f}  (best of {rounds} alternating rounds each)")
    return {"events": total, "without_per_s": total / plain, "with_per_s": total / rolled, "ratio": rolled / plain,
            "cpu_ratio": rolled_cpu / plain_cpu}


#: The period every size of the query figures spreads its newsletters over.
SPAN_S = 400 * 86_400


async def _fill(gateway: Gateway, domain: str, sends: int, first_s: int) -> None:
    """Roll up ``sends`` newsletters of ``domain`` spread evenly over :data:`SPAN_S` from ``first_s``."""
    from postgate_dashboard.rollups.derive import tally
    from postgate_dashboard.rollups.writer import apply

    next_id = 0
    chunk: list[Event] = []
    for send in range(sends):
        at = first_s + send * (SPAN_S // sends)
        for event in itertools.chain(newsletter_events(send, at, domain=domain), failure_events(send, at, domain=domain)):
            next_id += 1
            event.id = next_id
            chunk.append(event)
        if len(chunk) >= 5000:
            await apply(gateway, tally(chunk))
            chunk = []
    if chunk:
        await apply(gateway, tally(chunk))


async def _time(work: Callable[[], Awaitable[Any]], reps: int) -> float:
    await work()
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def _queries(gateway: Gateway, domain: str, now: int, latest: str, reps: int) -> dict[str, float]:
    from postgate_dashboard.rollups import queries

    day = 86_400
    return {
        "overview_48h_by_hour": await _time(lambda: queries.overview(gateway, domain, now - 2 * day, now, "hour"), reps),
        "overview_30d_by_day": await _time(lambda: queries.overview(gateway, domain, now - 30 * day, now, "day"), reps),
        "overview_year_by_month": await _time(
            lambda: queries.overview(gateway, domain, now - 365 * day, now, "month"), reps),
        "send_summary": await _time(lambda: queries.send_summary(gateway, domain, latest), reps),
        "sends_page": await _time(lambda: queries.sends(gateway, domain, limit=25), reps),
        "by_provider_30d": await _time(lambda: queries.by_provider(gateway, domain, now - 30 * day, now), reps),
        "top_links": await _time(lambda: queries.top_links(gateway, domain, latest), reps),
        "failure_groups_30d": await _time(lambda: queries.failure_groups(gateway, domain, now - 30 * day, now), reps),
        "failure_groups_90d": await _time(lambda: queries.failure_groups(gateway, domain, now - 90 * day, now), reps),
        **await _metrics_api(gateway, domain, now, reps),
    }


async def _metrics_api(gateway: Gateway, domain: str, now: int, reps: int) -> dict[str, float]:
    """``POST /v1/analytics/metrics``'s work in process (parse and answer; no HTTP): ten metrics by
    day over 30 days and by month over a year, every domain of a key that may use this one."""
    from postgate_dashboard.metrics_api.answer import answer
    from postgate_dashboard.metrics_api.body import parse_body

    names = ["accepted_count", "delivered_count", "opened_count", "unique_opened_count", "clicked_count",
             "bounced_count", "complained_count", "delivered_rate", "unique_opened_rate", "bounce_rate"]
    month = parse_body({"duration": "365d", "resolution": "month", "dimensions": ["time"], "metrics": names,
                        "include_aggregates": True, "end": str(now)}, now)
    day = parse_body({"duration": "30d", "dimensions": ["time"], "metrics": names, "end": str(now)}, now)
    return {"metrics_api_30d_by_day": await _time(lambda: answer(gateway, day, [domain]), reps),
            "metrics_api_year_by_month": await _time(lambda: answer(gateway, month, [domain]), reps)}


async def _bench_queries(folder: Path, sizes: list[int], reps: int, label: str,
                         storage: dict[str, Any] | None) -> list[dict[str, Any]]:
    import postgate_dashboard

    plugins: list[Any] = [postgate_dashboard]
    if storage:
        import postgate_mysql

        plugins.insert(0, postgate_mysql)
    gateway = await _gateway(folder, plugins, storage)
    results = []
    try:
        for size in sorted(sizes):
            sends = max(1, size // PER_SEND)
            domain = f"n{size}.example.com"  # each size on its own domain, over the same period
            now = int(time.time())
            first_s = now - SPAN_S - 86_400
            started = time.perf_counter()
            await _fill(gateway, domain, sends, first_s)
            seconds = time.perf_counter() - started
            figures = await _queries(gateway, domain, now, f"{sends - 1:024x}", reps)
            results.append({"backend": label, "events": size, "sends": sends, "fill_seconds": seconds, **figures})
            print(f"dashboard {label:7s} {size:>10,} events / {sends:,} sends: "
                  + "  ".join(f"{name} {value * 1000:.2f} ms" for name, value in figures.items())
                  + f"  (filled in {seconds:.0f} s)")
    finally:
        await gateway.stop()
    if len(results) > 1:
        low, high = results[0], results[-1]
        names = [k for k in low if k.startswith(("overview", "send_summary", "sends_page", "by_", "top_links", "failure_",
                                                     "metrics_api"))]
        print(f"dashboard {label:7s} ratio {high['events']:,} vs {low['events']:,}: "
              + "  ".join(f"{n} x{high[n] / low[n]:.2f}" for n in names))
    return results


#: What ``--dashboard-parts`` may name.
PARTS = ("ingest", "reads", "pages")


def bench_dashboard(workdir: Path, sizes: list[int], reps: int, ingest_events: int,
                    mysql_url: str | None, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    from .dashboard_pages import bench_pages

    out: dict[str, Any] = {"queries": [], "pages": []}
    if "ingest" in parts:
        out["ingest"] = bench_ingest(workdir, ingest_events)
    if "reads" in parts:
        out["queries"] = asyncio.run(_bench_queries(workdir / "dash-sqlite", sizes, reps, "sqlite", None))
    if "pages" in parts:
        out["pages"] = bench_pages(workdir / "pages-sqlite", sizes, reps, "sqlite", None)
    if mysql_url and ("reads" in parts or "pages" in parts):
        with _mysql_database(mysql_url) as storage:
            if "reads" in parts:
                out["queries"] += asyncio.run(_bench_queries(workdir / "dash-mysql", sizes, reps, "mariadb", storage))
        with _mysql_database(mysql_url) as storage:
            if "pages" in parts:
                out["pages"] += bench_pages(workdir / "pages-mysql", sizes, reps, "mariadb", storage)
    return out


@contextlib.contextmanager
def _mysql_database(mysql_url: str) -> Iterator[dict[str, Any]]:
    """A scratch database ``pgbench_<random>`` on ``mysql_url``, dropped afterwards."""
    from .__main__ import _mysql_admin

    name = f"pgbench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_mysql_admin(mysql_url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    try:
        yield {"url": mysql_url.rstrip("/") + "/" + name}
    finally:
        asyncio.run(_mysql_admin(mysql_url, f"DROP DATABASE IF EXISTS `{name}`"))
