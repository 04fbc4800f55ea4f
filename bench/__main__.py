"""``python -m bench``: Postgate's performance figures (see bench/README.md).

1. accept latency of a 1000-recipient Ghost batch (real HTTP to Hypercorn on loopback);
2. end-to-end recipients/s through the embedded pipeline (accept -> worker -> outbox .eml +
   delivered events);
3. events page latency (300-event page: first page, and a deep page reached by token) at each
   requested number of stored events, on SQLite and on MariaDB/MySQL;
4. ``aws`` (only with ``--only aws``): recipients/s through SQS → SES against moto's server versus
   a bare boto3 loop making the same calls, and SES events ingested per second (bench/aws.py);
5. ``scaleout`` (only with ``--only scaleout``): aggregate recipients/s of 1, 2, 3 worker processes
   over SQS (moto) and MariaDB against a fast local SES stand-in, with a high and a binding
   ``max_send_rate``, and the busiest one-second window of sends (bench/scaleout.py);
6. ``sendpath`` (only with ``--only sendpath``): Postgate with 1 and 2 worker processes against a
   bare boto3 ``send_email`` loop on the same SES stand-in with ~70 KB Ghost messages, and the
   per-call CPU of boto3 versus the plugin's signer + pooled HTTP client (bench/sendpath.py);
7. ``dashboard`` (only with ``--only dashboard``): ingest cost of the dashboard's roll-ups and
   the time of its reads at each requested number of events (bench/dashboard.py);
8. ``tracking``, ``smtp``, ``webhooks``, ``webhooks-page``, ``render``, ``ingest``, ``memory``
   (only when named): bench/tracking.py, bench/smtp.py, bench/webhooks.py, bench/webhooks_page.py,
   bench/render_cost.py, bench/ingest.py, bench/memory.py, each described in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlparse

from postgate.app import Gateway
from postgate.event_json import canonical_payload
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, LiveServer, basic_auth, make_settings

from .ghost_form import ghost_batch, member_addresses

GHOST_EVENT_FILTER = "delivered OR failed OR unsubscribed OR complained"
DEFAULT_MYSQL = "mysql://root:@127.0.0.1:3306/"


# -- small helpers -------------------------------------------------------------------------------


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


class Http:
    """One keep-alive HTTP/1.1 connection to the live server, like one axios agent."""

    def __init__(self, server: LiveServer) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        self.auth = basic_auth(TEST_KEY)
        self.last_cpu = 0.0  # CPU seconds of this whole process (the in-process server) in the last request

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, bytes, float]:
        headers = dict(self.auth)
        if content_type:
            headers["Content-Type"] = content_type
        started, cpu = time.perf_counter(), time.process_time()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        self.last_cpu = time.process_time() - cpu
        return response.status, data, elapsed

    def close(self) -> None:
        self.connection.close()


def start_server(data_dir: Path, *, workers: int, plugins_settings: dict[str, Any] | None = None,
                 storage: str = "sqlite", load_plugins: list[str] | None = None) -> LiveServer:
    overrides: dict[str, Any] = {"gateway": {"workers": workers}}
    if storage != "sqlite":
        overrides["backends"] = {"storage": storage}
        overrides["load_plugins"] = load_plugins or [storage]
    if plugins_settings:
        overrides["plugins"] = plugins_settings
    settings = make_settings(data_dir, **overrides)
    gateway = Gateway(settings, load_entrypoints=storage != "sqlite")
    return LiveServer(gateway, background=workers > 0).start()


def count_rows(server: LiveServer, sql: str) -> int:
    async def count() -> int:
        async with server.gateway.storage.session() as db:
            rows = await db.fetch(sql)
        return int(rows[0][0])

    return server.run(count())


# -- 1. accept latency ---------------------------------------------------------------------------


def bench_accept(workdir: Path, requests: int, recipients: int, *, storage: str = "sqlite",
                 plugins_settings: dict[str, Any] | None = None) -> dict[str, float]:
    server = start_server(workdir / f"accept-{storage}", workers=0, storage=storage, plugins_settings=plugins_settings)
    client = Http(server)
    path = f"/v3/{TEST_DOMAIN}/messages"
    try:
        bodies = [ghost_batch(TEST_DOMAIN, member_addresses(recipients, offset=i * recipients))
                  for i in range(requests + 2)]
        for body, content_type in bodies[:2]:  # warm-up: connections, first migrations, caches
            status, data, _ = client.request("POST", path, body, content_type)
            assert status == 200, data
        samples, cpu = [], []
        for body, content_type in bodies[2:]:
            status, data, elapsed = client.request("POST", path, body, content_type)
            if status != 200:
                raise RuntimeError(f"accept answered {status}: {data[:300]!r}")
            samples.append(elapsed)
            cpu.append(client.last_cpu)
        size = len(bodies[2][0])
    finally:
        client.close()
        server.stop()
    result = {"p50": percentile(samples, 50), "p99": percentile(samples, 99), "max": max(samples),
              "mean": statistics.fmean(samples), "requests": len(samples), "body_bytes": size,
              "cpu_p50": percentile(cpu, 50), "cpu_p99": percentile(cpu, 99)}
    print(f"accept  {storage:7s} {recipients}-recipient Ghost batch, {len(samples)} requests "
          f"({size / 1024:.0f} KiB each): p50 {ms(result['p50'])}  p99 {ms(result['p99'])}  "
          f"mean {ms(result['mean'])}  | gateway CPU p50 {ms(result['cpu_p50'])}  p99 {ms(result['cpu_p99'])}")
    return result


# -- 2. pipeline throughput ----------------------------------------------------------------------


def bench_pipeline(workdir: Path, total: int, batch: int, workers: int) -> dict[str, float]:
    server = start_server(workdir / "pipeline", workers=workers)
    client = Http(server)
    path = f"/v3/{TEST_DOMAIN}/messages"
    try:
        bodies = [ghost_batch(TEST_DOMAIN, member_addresses(min(batch, total - start), offset=start))
                  for start in range(0, total, batch)]
        started, cpu_started = time.perf_counter(), time.process_time()
        for body, content_type in bodies:
            status, data, _ = client.request("POST", path, body, content_type)
            if status != 200:
                raise RuntimeError(f"accept answered {status}: {data[:300]!r}")
        accepted = time.perf_counter() - started
        delivered = 0
        deadline = time.monotonic() + max(120, total / 50)
        while delivered < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {delivered} of {total} delivered events before the deadline")
            time.sleep(0.05)
            delivered = count_rows(server, "SELECT COUNT(*) FROM events WHERE event = 'delivered'")
        elapsed = time.perf_counter() - started
        cpu_ms = (time.process_time() - cpu_started) / total * 1000  # the gateway runs in this process
        folder = getattr(server.gateway.delivery, "folder", workdir / "pipeline" / "outbox")
        written = sum(1 for _ in Path(folder).rglob("*.eml"))
    finally:
        client.close()
        server.stop()
    rate = total / elapsed
    print(f"pipeline {total} recipients in {len(bodies)} batches, {workers} worker(s): "
          f"{rate:,.0f} recipients/s end to end ({elapsed:.2f} s; accepting took {accepted:.2f} s; "
          f"{written} .eml written; {cpu_ms:.2f} ms CPU per recipient)")
    return {"recipients_per_s": rate, "seconds": elapsed, "accept_seconds": accepted, "eml": written,
            "cpu_ms_per_recipient": cpu_ms}


# -- 3. events paging ----------------------------------------------------------------------------


EVENT_COLUMNS = ("event_id, domain, recorded_at, event, recipient, recipient_key, message_id, email_id, "
                 "tags, tags_search, severity, reason, event_key, payload, payload_canonical")
ROWS_PER_STATEMENT = 1000
ROWS_PER_TRANSACTION = 50_000
#: Rows per INSERT … SELECT when MariaDB generates the events itself.
ROWS_PER_SERVER_STATEMENT = 250_000
SPACING_US = 1000  # seeded events are 1 ms apart
TAGS = ["ghost-email", "bulk-email"]


def seeded_kind(index: int) -> tuple[str, str | None, str | None]:
    """Event, severity and reason of the ``index``-th seeded event: 2 % failed, 10 % opened."""
    if index % 50 == 7:
        return "failed", "permanent", "bounce"
    if index % 10 == 3:
        return "opened", None, None
    return "delivered", None, None


def seeded_recipient(index: int) -> str:
    # Zero-padded: recipients (and message ids) ascend with the index, so every index of the
    # events table grows at its end while seeding.
    return f"member{index:08d}@example.com"


def seeded_message_id(index: int, email_id: str) -> str:
    return f"{email_id}.{index:032x}@{TEST_DOMAIN}"


def seeded_payload(kind: str, recipient: str, message_id: str, email_id: str) -> str:
    """The stored payload text of a seeded event: what save_events writes (canonical JSON)."""
    payload: dict[str, Any] = {
        "event": kind, "log-level": "info", "recipient": recipient, "recipient-domain": "example.com",
        "tags": TAGS, "campaigns": [], "user-variables": {"email-id": email_id},
        "flags": {"is-routed": False, "is-authenticated": True, "is-system-test": False, "is-test-mode": False},
        "envelope": {"sender": f"noreply@{TEST_DOMAIN}", "transport": "smtp", "targets": recipient},
        "message": {"headers": {"to": recipient, "message-id": message_id,
                                "from": f"My Blog <noreply@{TEST_DOMAIN}>", "subject": "Weekly issue"},
                    "attachments": [], "size": 20480},
    }
    if kind == "delivered":
        payload["delivery-status"] = {"code": 250, "message": "OK", "description": "", "attempt-no": 1}
    elif kind == "failed":
        payload.update({"log-level": "error", "severity": "permanent", "reason": "bounce"})
        payload["delivery-status"] = {"code": 550, "message": "5.1.1 mailbox does not exist",
                                      "description": "", "enhanced-code": "5.1.1", "attempt-no": 1}
    text = canonical_payload(payload, kind)
    assert text is not None
    return text


def seeded_event(index: int, recorded_at: int, email_id: str) -> tuple[Any, ...]:
    recipient, message_id = seeded_recipient(index), seeded_message_id(index, email_id)
    kind, severity, reason = seeded_kind(index)
    return (
        secrets.token_urlsafe(16), TEST_DOMAIN, recorded_at, kind, recipient, recipient, message_id, email_id,
        json.dumps(TAGS), "|ghost-email|bulk-email|", severity, reason, None,
        seeded_payload(kind, recipient, message_id, email_id), True,
    )


def server_seed_statement(first: int, last: int, first_us: int, email_id: str) -> tuple[str, list[Any]]:
    """One INSERT … SELECT over MariaDB's sequence table ``seq_<first>_to_<last>`` that writes the
    events :func:`seeded_event` would (``event_id`` aside, unique all the same): no row crosses
    the connection, so ten million take minutes, not hours."""
    templates = [seeded_payload(kind, "@@R@@", "@@M@@", email_id) for kind in ("failed", "opened", "delivered")]
    kind = "CASE WHEN seq % 50 = 7 THEN 'failed' WHEN seq % 10 = 3 THEN 'opened' ELSE 'delivered' END"
    template = "CASE WHEN seq % 50 = 7 THEN ? WHEN seq % 10 = 3 THEN ? ELSE ? END"
    statement = (
        f"INSERT INTO events ({EVENT_COLUMNS}) "
        f"SELECT CONCAT('seed', LPAD(seq, 18, '0')), ?, ? + seq * ?, {kind}, r, r, m, ?, ?, "
        "'|ghost-email|bulk-email|', IF(seq % 50 = 7, 'permanent', NULL), IF(seq % 50 = 7, 'bounce', NULL), NULL, "
        f"REPLACE(REPLACE({template}, '@@R@@', r), '@@M@@', m), 1 "
        "FROM (SELECT seq, CONCAT('member', LPAD(seq, 8, '0'), '@example.com') AS r, "
        f"CONCAT(?, '.', LPAD(LOWER(HEX(seq)), 32, '0'), '@', ?) AS m FROM seq_{first}_to_{last}) AS generated"
    )
    return statement, [TEST_DOMAIN, first_us, SPACING_US, email_id, json.dumps(TAGS), *templates,
                       email_id, TEST_DOMAIN]


def seed_events(server: LiveServer, count: int, first_us: int, start_index: int) -> float:
    """Insert ``count`` events: on MariaDB generated by the server (:func:`server_seed_statement`),
    elsewhere with direct multi-row INSERTs through the storage's connection."""
    storage = server.gateway.storage
    marks = "(" + ", ".join("?" * len(EVENT_COLUMNS.split(","))) + ")"

    async def seed_on_server() -> None:
        email_id = secrets.token_hex(12)
        for first in range(start_index, start_index + count, ROWS_PER_SERVER_STATEMENT):
            last = min(first + ROWS_PER_SERVER_STATEMENT, start_index + count) - 1
            async with storage.session(write=True) as db:
                await db.execute(*server_seed_statement(first, last, first_us, email_id))

    async def seed() -> None:
        email_id = secrets.token_hex(12)
        done = 0
        while done < count:
            in_tx = min(ROWS_PER_TRANSACTION, count - done)
            async with storage.session(write=True) as db:
                for offset in range(0, in_tx, ROWS_PER_STATEMENT):
                    n = min(ROWS_PER_STATEMENT, in_tx - offset)
                    rows = [seeded_event(start_index + done + offset + i,
                                         first_us + (start_index + done + offset + i) * SPACING_US, email_id)
                            for i in range(n)]
                    await db.execute(
                        f"INSERT INTO events ({EVENT_COLUMNS}) VALUES {', '.join([marks] * n)}",
                        [value for row in rows for value in row],
                    )
            done += in_tx

    started = time.perf_counter()
    server.run(seed_on_server() if storage.name == "mysql" else seed(), timeout=7200)
    return time.perf_counter() - started


def events_path(begin: float, end: float, token: str | None = None) -> str:
    query = urlencode({"limit": 300, "event": GHOST_EVENT_FILTER, "tags": "bulk-email",
                       "begin": f"{begin:.3f}", "end": f"{end:.3f}", "ascending": "yes"})
    return f"/v3/{TEST_DOMAIN}/events{'/' + token if token else ''}?{query}"


def search_path(field: str, value: str) -> str:
    """A 300-event page of one recipient's or one message's events (the dashboard's timeline)."""
    return f"/v3/{TEST_DOMAIN}/events?{urlencode({'limit': 300, field: value, 'ascending': 'yes'})}"


def time_get(client: Http, path: str, reps: int) -> tuple[float, dict[str, Any]]:
    samples, body = [], {}
    for _ in range(reps + 1):
        status, data, elapsed = client.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {data[:300]!r}")
        body = json.loads(data)
        samples.append(elapsed)
    return statistics.median(samples[1:] or samples), body


class EventStore:
    """A live server whose ``events`` table is seeded to a growing size, and its two page paths."""

    def __init__(self, workdir: Path, label: str, storage: str, plugins_settings: dict[str, Any] | None,
                 first_us: int) -> None:
        self.server = start_server(workdir / f"events-{label}", workers=0, storage=storage,
                                   plugins_settings=plugins_settings)
        self.client = Http(self.server)
        self.first_us = first_us
        self.stored = 0
        self.first_path = self.deep_path = self.recipient_path = self.message_path = ""

    def grow(self, size: int) -> float:
        """Seed up to ``size`` events and find the paths of the first and the deep page."""
        seeded = seed_events(self.server, size - self.stored, self.first_us, self.stored)
        # Seeding can outlast the server's keep-alive timeout: reconnect.
        self.client.close()
        self.stored = size
        begin = self.first_us / 1e6
        end = (self.first_us + size * SPACING_US) / 1e6 + 1
        self.first_path = events_path(begin, end)
        # The deep page: start 90 % of the way in, and take the page its `next` token points at.
        deep_begin = (self.first_us + int(size * 0.9) * SPACING_US) / 1e6
        _, entry = time_get(self.client, events_path(deep_begin, end), 0)
        self.deep_path = events_path(begin, end, entry["paging"]["next"].rsplit("/", 1)[-1])
        first, deep = time_get(self.client, self.first_path, 0)[1], time_get(self.client, self.deep_path, 0)[1]
        if len(first["items"]) != 300 or len(deep["items"]) == 0:
            raise RuntimeError(f"unexpected page sizes {len(first['items'])}/{len(deep['items'])}")
        # Searches for one event 90 % of the way in (seeded recipients and message ids are unique).
        sought = deep["items"][0]
        self.recipient_path = search_path("recipient", sought["recipient"].upper())
        self.message_path = search_path("message-id", sought["message"]["headers"]["message-id"])
        for path in (self.recipient_path, self.message_path):
            if len(time_get(self.client, path, 0)[1]["items"]) != 1:
                raise RuntimeError(f"{path} did not find its one event")
        return seeded

    def close(self) -> None:
        self.client.close()
        self.server.stop()


def interleaved(stores: list[EventStore], reps: int) -> list[dict[str, float]]:
    """Median first-page and deep-page times of each store, requests taken in turns (one warm-up
    each), so that a busy machine slows every store alike."""
    kinds = ("first", "deep", "recipient", "message")
    samples: list[dict[str, list[float]]] = [{f"{kind}{cpu}": [] for kind in kinds for cpu in ("", "_cpu")}
                                             for _ in stores]
    for store in stores:  # a connection left idle while another store was seeded may be gone
        store.client.close()
    for rep in range(reps + 1):
        for store, own in zip(stores, samples):
            for kind, path in zip(kinds, (store.first_path, store.deep_path, store.recipient_path,
                                          store.message_path), strict=True):
                elapsed, _ = time_get(store.client, path, 0)
                if rep:
                    own[kind].append(elapsed)
                    own[f"{kind}_cpu"].append(store.client.last_cpu)
    return [{f"{kind}_page{cpu}": statistics.median(own[f"{kind}{cpu}"]) for kind in kinds for cpu in ("", "_cpu")}
            for own in samples]


def bench_events(workdir: Path, label: str, sizes: list[int], reps: int, *, storage: str = "sqlite",
                 plugins_settings: dict[str, Any] | None = None,
                 reference_settings: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Page times at each size of one growing store, each timed in turns with a second store
    that holds the smallest size (the reference): the ratio of the two is measured in the same
    moments. ``reference_settings`` are the reference store's plugin settings (its own database)."""
    sizes = sorted(sizes)
    first_us = (int(time.time()) - 86_400) * 1_000_000  # a day ago: inside retention, before "now"
    reference = EventStore(workdir, f"{label}-ref", storage, reference_settings or plugins_settings, first_us)
    store = EventStore(workdir, label, storage, plugins_settings, first_us) if len(sizes) > 1 else None
    results = []
    try:
        reference.grow(sizes[0])
        for size in sizes:
            seeded = store.grow(size) if store is not None and size > sizes[0] else 0.0
            if store is None or size == sizes[0]:
                (own,) = interleaved([reference], reps)
                small = own
            else:
                small, own = interleaved([reference, store], reps)
            results.append({"backend": label, "events": size, "seed_seconds": seeded, **own,
                            "reference_events": sizes[0], "reference_first_page": small["first_page"],
                            "reference_deep_page": small["deep_page"],
                            "reference_recipient_page": small["recipient_page"],
                            "reference_message_page": small["message_page"]})
            line = (f"events  {label:7s} {size:>10,} stored: first page {ms(own['first_page'])}  "
                    f"deep page (token) {ms(own['deep_page'])}  (gateway CPU {ms(own['first_page_cpu'])} / "
                    f"{ms(own['deep_page_cpu'])})")
            if size > sizes[0]:
                line += (f"  | {sizes[0]:,} at the same moments: {ms(small['first_page'])} / "
                         f"{ms(small['deep_page'])}  ratio x{own['first_page'] / small['first_page']:.2f} / "
                         f"x{own['deep_page'] / small['deep_page']:.2f}  (seeded in {seeded:.1f} s)")
            print(line, flush=True)
            line = (f"events  {label:7s} {size:>10,} stored: recipient search {ms(own['recipient_page'])}  "
                    f"message-id search {ms(own['message_page'])}")
            if size > sizes[0]:
                line += (f"  | {sizes[0]:,}: {ms(small['recipient_page'])} / {ms(small['message_page'])}  "
                         f"ratio x{own['recipient_page'] / small['recipient_page']:.2f} / "
                         f"x{own['message_page'] / small['message_page']:.2f}")
            print(line, flush=True)
    finally:
        reference.close()
        if store is not None:
            store.close()
    return results


async def _mysql_admin(url: str, sql: str) -> None:
    import asyncmy

    parts = urlparse(url)
    connection = await asyncmy.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                                       user=unquote(parts.username or "root"),
                                       password=unquote(parts.password or ""))
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(sql)
    finally:
        await connection.ensure_closed()


@contextlib.contextmanager
def scratch_mysql(server_url: str) -> Iterator[str]:
    """The URL of a new database ``pgbench_<random>`` on ``server_url``, dropped afterwards."""
    name = f"pgbench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_mysql_admin(server_url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    try:
        yield server_url.rstrip("/") + "/" + name
    finally:
        asyncio.run(_mysql_admin(server_url, f"DROP DATABASE IF EXISTS `{name}`"))


def bench_accept_mysql(workdir: Path, server_url: str, requests: int, recipients: int) -> dict[str, float]:
    with scratch_mysql(server_url) as url:
        return bench_accept(workdir, requests, recipients, storage="mysql", plugins_settings={"mysql": {"url": url}})


def bench_events_mysql(workdir: Path, server_url: str, sizes: list[int], reps: int) -> list[dict[str, Any]]:
    with scratch_mysql(server_url) as url, scratch_mysql(server_url) as reference:
        return bench_events(workdir, "mariadb", sizes, reps, storage="mysql",
                            plugins_settings={"mysql": {"url": url}},
                            reference_settings={"mysql": {"url": reference}})


# -- command line --------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for a smoke run: 10 requests, 2,000 recipients, 10k/100k events")
    parser.add_argument("--requests", type=int, help="accept requests to time (default 30)")
    parser.add_argument("--recipients", type=int, default=1000, help="recipients per Ghost batch (default 1000)")
    parser.add_argument("--pipeline", type=int, help="recipients through the pipeline (default 10000)")
    parser.add_argument("--workers", type=int, default=1, help="worker loops for the pipeline (default 1)")
    parser.add_argument("--events", help="stored event counts, comma separated (default 10000,1000000)")
    parser.add_argument("--reps", type=int, help="timed repetitions per events page (default 20)")
    parser.add_argument("--mysql-url", default=DEFAULT_MYSQL,
                        help=f"MariaDB/MySQL server for the events figures (default {DEFAULT_MYSQL}); "
                             "a database is created and dropped")
    parser.add_argument("--no-mysql", action="store_true", help="skip the MariaDB/MySQL events figures")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite events figures")
    parser.add_argument("--only", choices=["accept", "pipeline", "events", "aws", "scaleout", "sendpath", "dashboard",
                                             "tracking", "smtp", "webhooks", "webhooks-page", "render", "ingest",
                                             "ingest-dashboard", "memory"],
                        action="append",
                        help="run only these parts (repeatable; all but accept, pipeline and events run only "
                             "when named)")
    parser.add_argument("--dashboard-ingest", type=int,
                        help="events recorded per round for --only dashboard (default 20000, --quick 5000)")
    parser.add_argument("--dashboard-parts", default="ingest,reads,pages",
                        help="parts of --only dashboard, comma separated (default ingest,reads,pages)")
    parser.add_argument("--aws-recipients", type=int,
                        help="recipients through SQS → SES for --only aws (default 1000, --quick 300)")
    parser.add_argument("--aws-events", type=int,
                        help="SES Delivery records ingested for --only aws (default 300, --quick 100)")
    parser.add_argument("--aws-threads", type=int, default=8,
                        help="SES send threads, and threads of the bare boto3 loop (default 8)")
    parser.add_argument("--webhooks-events", type=int, default=10000,
                        help="events fanned out at 1,000/s for --only webhooks (default 10000)")
    parser.add_argument("--webhooks-recipients", type=int, default=5000,
                        help="recipients per pipeline run, with and without the plugin, for --only webhooks (default 5000)")
    parser.add_argument("--webhooks-log", type=int, default=200_000,
                        help="POSTs in the attempts log for --only webhooks-page (default 200000)")
    parser.add_argument("--ingest-recipients", type=int,
                        help="recipients whose SES events are ingested for --only ingest (default 10000, --quick 2000)")
    parser.add_argument("--ingest-clients", default="http",
                        help="events_client values for --only ingest, comma separated, alternating (default http)")
    parser.add_argument("--ingest-rounds", type=int, default=1,
                        help="ingest runs per events_client for --only ingest (default 1)")
    parser.add_argument("--memory-recipients", type=int,
                        help="recipients of the newsletter for --only memory (default 50000, --quick 5000)")
    parser.add_argument("--tracking-hits", type=int, default=20000,
                        help="pixel hits fetched for --only tracking (default 20000)")
    parser.add_argument("--scaleout-recipients", type=int,
                        help="recipients per run for --only scaleout (default 3000, --quick 600)")
    parser.add_argument("--scaleout-rates", default="10000,150",
                        help="max_send_rate values for --only scaleout, comma separated (default 10000,150)")
    parser.add_argument("--scaleout-workers", default="1,2,3",
                        help="worker process counts for --only scaleout, comma separated (default 1,2,3)")
    parser.add_argument("--scaleout-latency", type=float, default=0.0,
                        help="seconds the SES stand-in holds each SendEmail answer for --only scaleout (default 0)")
    parser.add_argument("--smtp-recipients", type=int,
                        help="recipients through the smtp delivery for --only smtp (default 2000, --quick 500)")
    parser.add_argument("--smtp-connections", type=int, default=8,
                        help="relay_connections, and connections of the bare aiosmtplib loop (default 8)")
    parser.add_argument("--smtp-latency", default="0,0.02",
                        help="seconds the sink holds each answer, one run per value, comma separated (default 0,0.02)")
    parser.add_argument("--smtp-sink", default="plain,pipelining",
                        help="sink modes for --only smtp: plain (no PIPELINING offered) and/or pipelining "
                             "(offers it, as Postfix does); one series per mode and latency (default both)")
    parser.add_argument("--sendpath-recipients", type=int,
                        help="recipients per run for --only sendpath (default 3000, --quick 1000)")
    parser.add_argument("--sendpath-kb", type=int, default=70,
                        help="KiB of HTML per Ghost message for --only sendpath (default 70)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")
    args = parser.parse_args(argv)
    args.requests = args.requests or (10 if args.quick else 30)
    args.pipeline = args.pipeline or (2000 if args.quick else 10_000)
    args.reps = args.reps or (5 if args.quick else 20)
    args.aws_recipients = args.aws_recipients or (300 if args.quick else 1000)
    args.aws_events = args.aws_events or (100 if args.quick else 300)
    args.scaleout_recipients = args.scaleout_recipients or (600 if args.quick else 3000)
    args.sendpath_recipients = args.sendpath_recipients or (1000 if args.quick else 3000)
    args.scaleout_rate_list = [float(part) for part in args.scaleout_rates.split(",") if part.strip()]
    args.scaleout_worker_list = [int(part) for part in args.scaleout_workers.split(",") if part.strip()]
    args.smtp_recipients = args.smtp_recipients or (500 if args.quick else 2000)
    args.memory_recipients = args.memory_recipients or (5000 if args.quick else 50_000)
    args.ingest_recipients = args.ingest_recipients or (2000 if args.quick else 10_000)
    args.dashboard_ingest = args.dashboard_ingest or (5000 if args.quick else 20_000)
    events = args.events or ("10000,100000" if args.quick else "10000,1000000")
    args.event_sizes = [int(part.replace("_", "")) for part in events.split(",") if part.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    parts = set(args.only or ["accept", "pipeline", "events"])
    workdir = Path(tempfile.mkdtemp(prefix="postgate-bench-"))
    figures: dict[str, Any] = {}
    try:
        if "accept" in parts:
            figures["accept"] = bench_accept(workdir, args.requests, args.recipients)
            if not args.no_mysql:
                figures["accept_mysql"] = bench_accept_mysql(workdir, args.mysql_url, args.requests, args.recipients)
        if "pipeline" in parts:
            figures["pipeline"] = bench_pipeline(workdir, args.pipeline, args.recipients, args.workers)
        if "events" in parts:
            figures["events"] = [] if args.no_sqlite else bench_events(workdir, "sqlite", args.event_sizes, args.reps)
            if not args.no_mysql:
                figures["events"] += bench_events_mysql(workdir, args.mysql_url, args.event_sizes, args.reps)
        if "aws" in parts:
            from .aws import bench_aws

            figures["aws"] = bench_aws(workdir, args.aws_recipients, args.aws_events, args.aws_threads)
        if "scaleout" in parts:
            from .scaleout import bench_scaleout

            figures["scaleout"] = bench_scaleout(workdir, recipients=args.scaleout_recipients,
                                                 rates=args.scaleout_rate_list,
                                                 worker_counts=args.scaleout_worker_list, mysql_url=args.mysql_url,
                                                 latency=args.scaleout_latency)
        if "sendpath" in parts:
            from .sendpath import bench_sendpath

            figures["sendpath"] = bench_sendpath(workdir, recipients=args.sendpath_recipients,
                                                 html_kb=args.sendpath_kb, mysql_url=args.mysql_url)
        if "dashboard" in parts:
            from .dashboard import bench_dashboard

            figures["dashboard"] = bench_dashboard(workdir, args.event_sizes, args.reps, args.dashboard_ingest,
                                                   None if args.no_mysql else args.mysql_url,
                                                   tuple(p.strip() for p in args.dashboard_parts.split(",") if p.strip()))
        if "render" in parts:
            from .render_cost import bench_render

            figures["render"] = bench_render(args.recipients)
        if "ingest" in parts:
            from .ingest import bench_ingest_clients

            figures["ingest"] = bench_ingest_clients(workdir, args.ingest_recipients,
                                                     [c.strip() for c in args.ingest_clients.split(",") if c.strip()],
                                                     args.ingest_rounds)
        if "ingest-dashboard" in parts:
            from .ingest import bench_ingest_dashboard

            figures["ingest_dashboard"] = bench_ingest_dashboard(workdir, args.ingest_recipients)
        if "memory" in parts:
            from .memory import bench_memory

            figures["memory"] = bench_memory(workdir, args.memory_recipients, args.recipients, args.workers)
        if "tracking" in parts:
            from .tracking import bench_tracking

            figures["tracking"] = bench_tracking(workdir, args.tracking_hits)
        if "smtp" in parts:
            from .smtp import bench_smtp

            figures["smtp"] = [bench_smtp(workdir, args.smtp_recipients, args.smtp_connections, float(latency),
                                          pipelining=sink == "pipelining")
                               for sink in args.smtp_sink.split(",") if sink.strip()
                               for latency in args.smtp_latency.split(",") if latency.strip()]
        if "webhooks" in parts:
            from .webhooks import bench_webhooks

            figures["webhooks"] = bench_webhooks(workdir, args.webhooks_events, args.webhooks_recipients)
        if "webhooks-page" in parts:
            from .webhooks_page import bench_webhooks_page

            figures["webhooks_page"] = bench_webhooks_page(workdir, args.webhooks_log, args.reps,
                                                           None if args.no_mysql else args.mysql_url,
                                                           sqlite=not args.no_sqlite)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
