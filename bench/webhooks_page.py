"""``--only webhooks-page``: the reads of the dashboard's Webhooks page over a big attempts log.

A gateway (SQLite, then MariaDB unless ``--no-mysql``) with the webhooks plugin, migrated, its
``webhooks_attempts`` filled with ``--webhooks-log`` POSTs (default 200,000) spread over the seven
days the log keeps: 20 busy URLs on two domains, plus one *rare* URL with a single POST, the
oldest. Timed, median of ``--reps`` after one warm-up: the log page's read
(``attempt_rows``, a page of 50 and one more) and the per-URL summary (``url_rows``), unfiltered,
filtered by a busy URL, by the rare URL, and by the rare URL and its domain. Then the URL index
is dropped and the same reads timed again: "without" is the log as it was before the plugin's
migration 1 added that index. The query plans of the log page's read are printed for both. On
MariaDB the table's statistics are refreshed after the fill (``ANALYZE TABLE``, as InnoDB's
automatic recount does after a tenth of a table changed; with the empty table's statistics it
sorts the whole log for the unfiltered page); SQLite has no statistics, as in service.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

from postgate import Gateway
from postgate.testing.fixtures import TEST_DOMAIN, make_settings

from .dashboard import _mysql_database, _time

#: The index the plugin's migration 1 adds (generated name, the same on both dialects).
URL_INDEX = "idx_webhooks_at_url_33aa6c"
BUSY_URLS = 20
DAYS = 7
INSERT = ("INSERT INTO webhooks_attempts (delivery_id, at, domain, webhook, url, event_id, status_code, outcome, "
          "error, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


async def _gateway(folder: Path, storage: dict[str, Any] | None) -> Gateway:
    import postgate_dashboard
    import postgate_webhooks.plugin as webhooks_plugin
    from postgate_webhooks.state import webhooks_for

    plugins: list[Any] = [postgate_dashboard, webhooks_plugin]
    overrides: dict[str, Any] = {}
    if storage:
        import postgate_mysql

        plugins.insert(0, postgate_mysql)
        overrides.update(backends={"storage": "mysql"}, plugin_settings={"mysql": storage})
    gateway = Gateway(make_settings(folder, **overrides), plugins=plugins, load_entrypoints=False)
    webhooks_for(gateway).quiet = True  # reads only: no delivery loop
    await gateway.start()
    return gateway


async def _fill(gateway: Gateway, total: int, now: float) -> tuple[str, str, str]:
    """``total`` POSTs over the last :data:`DAYS` days; returns (a busy URL, the rare URL, its domain)."""
    rng = random.Random(7)
    domains = [TEST_DOMAIN, "other.example.com"]  # the rows' domains (the reads check none)
    urls = [(domains[i % 2], f"https://hooks{i}.example.net/mailgun/events?source=postgate&n={i}")
            for i in range(BUSY_URLS)]
    rare_domain, rare = domains[1], "https://rare.example.org/hooks/mailgun"
    start = now - DAYS * 86_400
    step = DAYS * 86_400 / total
    rows = [(1, start - 1.0, rare_domain, "delivered", rare, "rare-event", 200, "delivered", "", 12.5)]
    for n in range(total - 1):
        domain, url = urls[rng.randrange(BUSY_URLS)]
        failed = rng.random() < 0.05
        rows.append((n + 2, start + n * step, domain, "delivered", url, f"{n:022x}", 500 if failed else 200,
                     "retry" if failed else "delivered", "HTTP 500" if failed else "", rng.uniform(1, 80)))
    for first in range(0, len(rows), 2000):
        async with gateway.storage.session(write=True) as db:
            await db.executemany(INSERT, rows[first:first + 2000])
    return urls[0][1], rare, rare_domain


async def _plan(gateway: Gateway, filters: Any, tag: str) -> str:
    """The query plan of the log page's read (``tag`` makes the text new: Python's sqlite3 would
    answer from a statement prepared before the index was dropped)."""
    from postgate_webhooks import dashboard_page

    with gateway.storage.orm():
        query = dashboard_page._query(filters).limit(dashboard_page.PAGE_SIZE + 1)
        query._choose_db_if_not_chosen()
        query._make_query()
        sql, params = query.query.get_parameterized_sql()
    mysql = gateway.storage.dialect == "mysql"
    if mysql:
        sql = sql.replace("%s", "?")  # the storage's own placeholder
    async with gateway.storage.session() as db:
        rows = await db.fetch(("EXPLAIN " if mysql else "EXPLAIN QUERY PLAN ") + sql + f" /* {tag} */", params)
    if mysql:  # id, select_type, table, type, possible_keys, key, key_len, ref, rows, Extra
        return "; ".join(f"type={r[3]} key={r[5]} rows={r[8]} extra={r[9]}" for r in rows)
    return "; ".join(str(r[-1]) for r in rows)


async def _reads(gateway: Gateway, cases: dict[str, Any], reps: int) -> dict[str, dict[str, float]]:
    from postgate_webhooks import dashboard_page

    now = gateway.now()
    page = dashboard_page.PAGE_SIZE + 1
    return {name: {"log_page_ms": 1000 * await _time(lambda f=f: dashboard_page.attempt_rows(gateway, f, page), reps),
                   "url_summary_ms": 1000 * await _time(lambda f=f: dashboard_page.url_rows(gateway, f, now), reps)}
            for name, f in cases.items()}


async def _bench(folder: Path, total: int, reps: int, label: str, storage: dict[str, Any] | None) -> dict[str, Any]:
    from postgate_webhooks.dashboard_page import Filters

    gateway = await _gateway(folder, storage)
    try:
        started = time.perf_counter()
        busy, rare, rare_domain = await _fill(gateway, total, time.time())
        filled = time.perf_counter() - started
        if gateway.storage.dialect == "mysql":  # as InnoDB's own recount would after a tenth changed
            async with gateway.storage.session() as db:
                await db.fetch("ANALYZE TABLE webhooks_attempts")
        cases = {"unfiltered": Filters(), "busy URL": Filters(url=busy), "rare URL": Filters(url=rare),
                 "rare URL + domain": Filters(domain=rare_domain, url=rare)}
        result: dict[str, Any] = {"backend": label, "posts": total, "fill_seconds": round(filled, 1)}
        result["with_index"] = await _reads(gateway, cases, reps)
        result["plan_with_index"] = {name: await _plan(gateway, f, "with") for name, f in cases.items()}
        async with gateway.storage.session(write=True) as db:
            drop = (f"ALTER TABLE webhooks_attempts DROP INDEX {URL_INDEX}" if gateway.storage.dialect == "mysql"
                    else f"DROP INDEX {URL_INDEX}")
            await db.execute(drop)
        result["without_index"] = await _reads(gateway, cases, reps)
        result["plan_without_index"] = {name: await _plan(gateway, f, "without") for name, f in cases.items()}
    finally:
        await gateway.stop()
    print(f"webhooks-page {label} ({total:,} POSTs, filled in {filled:.0f} s): log page / URL summary, ms, "
          "with the URL index | without")
    for name in cases:
        w, wo = result["with_index"][name], result["without_index"][name]
        print(f"  {name:18s} {w['log_page_ms']:8.2f} / {w['url_summary_ms']:8.2f}   |"
              f" {wo['log_page_ms']:8.2f} / {wo['url_summary_ms']:8.2f}")
    for name, plan in result["plan_with_index"].items():
        print(f"  plan of the log page, {name}, with:    {plan}")
        print(f"  plan of the log page, {name}, without: {result['plan_without_index'][name]}", flush=True)
    return result


def bench_webhooks_page(workdir: Path, total: int, reps: int, mysql_url: str | None,
                        sqlite: bool = True) -> list[dict[str, Any]]:
    results = []
    if sqlite:
        results.append(asyncio.run(_bench(workdir / "webhooks-page-sqlite", total, reps, "sqlite", None)))
    if mysql_url:
        with _mysql_database(mysql_url) as storage:
            results.append(asyncio.run(_bench(workdir / "webhooks-page-mysql", total, reps, "mariadb", storage)))
    return results
