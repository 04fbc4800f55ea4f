"""The hit buffer is capped while the database is down: pixels and links are still answered, the
hits beyond ``buffer_limit`` are dropped, counted, logged and shown by ``/health/ready``. The
database is made unavailable for real: a SQLite file locked by another connection, a MariaDB
database dropped under the running gateway."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import httpx
import postgate_mysql
import pytest

from postgate.testing.mariadb import drop_database, temporary_database
from postgate_tracking import plugin
from postgate_tracking.models import TrackingHit
from postgate_tracking.state import tracking_for
from tracking_helpers import KEYS, local, outbox, send_batch, tracking_settings, tracking_urls

LIMIT = 10
SENT = 30


def limited(**extra) -> dict:
    return tracking_settings(buffer_limit=LIMIT, opens=True, clicks=True, **extra)


def marked_urls(server) -> tuple[str, str]:
    """A pixel and a link of a delivered message, each fetched once by ``HEAD`` (never recorded),
    so the batch and its links are in the recorder's cache before the database goes away."""
    send_batch(server, ["ann@example.com"], "6740a1b2c3d4e5f6a7b8c9d0")
    pixel, links = tracking_urls(outbox(server, 1)[0])
    pixel, link = local(server, pixel), local(server, links[0])
    with httpx.Client(timeout=30) as http:
        assert http.head(pixel).status_code == 200 and http.head(link).status_code == 302
    return pixel, link


def hit_while_down(server, pixel: str, link: str) -> None:
    with httpx.Client(timeout=30) as http:
        for number in range(SENT):
            if number % 3:
                answer = http.get(pixel)
                assert answer.status_code == 200 and answer.content.startswith(b"GIF89a")
            else:
                answer = http.get(link, follow_redirects=False)
                assert answer.status_code == 302 and answer.headers["location"].startswith("https://blog.")
        ready = http.get(server.url + "/health/ready")
    assert ready.status_code == 503
    said = ready.json()["checks"]["tracking"]
    assert f"{LIMIT} hits wait to be stored" in said and f"({SENT - LIMIT} so far)" in said
    recorder = tracking_for(server.gateway).recorder
    assert recorder.dropped == SENT - LIMIT and recorder.stored == 0


def stored_hits(server) -> int:
    async def count() -> int:
        with server.gateway.storage.orm():
            return await TrackingHit.all().count()
    return server.run(count())


def test_sqlite_locked_by_another_process_fills_the_buffer_then_it_drains(live_server, monkeypatch, tmp_path,
                                                                          caplog) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    database = tmp_path / "tracking.sqlite3"
    server = live_server(plugins=[plugin], plugin_settings={"sqlite": {"path": str(database), "busy_timeout_ms": 100},
                                                            **limited()})
    pixel, link = marked_urls(server)
    locker = sqlite3.connect(database, timeout=5, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # every writer now waits 100 ms and fails: "database is locked"
    try:
        with caplog.at_level(logging.ERROR, logger="postgate.tracking"):
            hit_while_down(server, pixel, link)
        assert any("dropped so far" in record.getMessage() for record in caplog.records)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    recorder = tracking_for(server.gateway).recorder
    deadline = time.monotonic() + 30
    while recorder.stored < LIMIT and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorder.stored == LIMIT and stored_hits(server) == LIMIT  # every kept hit, once
    with httpx.Client(timeout=30) as http:
        assert http.get(server.url + "/health/ready").json()["checks"]["tracking"] == "ok"


@pytest.mark.asyncio
async def test_mariadb_database_dropped_under_the_gateway(live_server, monkeypatch) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    async with temporary_database() as url:
        server = live_server(plugins=[postgate_mysql, plugin], backends={"storage": "mysql"},
                             plugin_settings={"mysql": {"url": url}, **limited()})
        try:
            pixel, link = marked_urls(server)
            await drop_database(url)
            hit_while_down(server, pixel, link)
        finally:
            server.stop()
