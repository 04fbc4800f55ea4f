"""A batch that can never be sent, end to end: dead-lettered, visible to Ghost, re-driven.

Shared by the tests of every storage and queue (SQLite and the local queue in ``tests/``,
MariaDB in the mysql plugin, SQS on moto in the sqs plugin). The gateway under test must use
the outbox delivery and be started; ``gateway.job_max_failures`` and a short
``gateway.job_backoff`` make the scenario fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from ..app import Gateway
from ..domain import Message, RecipientStatus, RecipientUpdate
from ..web import create_app
from ..worker import Worker
from .fixtures import TEST_DOMAIN, basic_auth

#: ``run_cli(args) -> (exit_code, output)``: the ``postgate`` command on the gateway's settings.
RunCli = Callable[[list[str]], Awaitable[tuple[int, str]]]


async def accept_batch(gateway: Gateway, count: int, prefix: str = "member") -> tuple[int, bytes]:
    """Accept a Ghost-like batch of ``count`` recipients; return its id and stored content."""
    recipients = [f"{prefix}{i}@example.com" for i in range(count)]
    response_id = await gateway.accept(Message(
        domain=TEST_DOMAIN, sender="Blog <noreply@mg.example.com>", to=recipients,
        subject="Hi %recipient.name%", text="Hello %recipient.name%", tags=["bulk-email"],
        recipient_variables={r: {"name": f"M{i}"} for i, r in enumerate(recipients)},
    ))
    async with gateway.storage.session() as db:
        [(batch_id, content)] = await db.fetch("SELECT id, content FROM batches WHERE response_id = ?",
                                               (response_id,))
    return int(batch_id), bytes(content)


async def store_content(gateway: Gateway, batch_id: int, content: bytes) -> None:
    """Overwrite the stored content blob of a batch (as a damaged disk or a bad migration would)."""
    async with gateway.storage.session(write=True) as db:
        await db.execute("UPDATE batches SET content = ? WHERE id = ?", (content, batch_id))


def content_that_breaks_events(original: bytes) -> bytes:
    """Stored content that decodes, but whose ``to`` is not a list: building events raises
    ``TypeError`` on every attempt (a bug-like failure, counted up to ``job_max_failures``)."""
    data = json.loads(zlib.decompress(original))
    data["to"] = 5
    return zlib.compress(json.dumps(data).encode())


async def mark(gateway: Gateway, batch_id: int, count: int, status: RecipientStatus) -> list[int]:
    """Give the first ``count`` ledger rows of the batch ``status`` (as an earlier attempt would)."""
    rows = (await gateway.storage.list_recipients(batch_id, 0, count))[:count]
    await gateway.storage.update_recipients([RecipientUpdate(r.id, status, attempts=1) for r in rows])
    return [r.id for r in rows]


async def run_workers_until(gateway: Gateway, done: Callable[[], Any], timeout: float = 60.0,
                            workers: int = 1) -> None:
    """Run worker loops until ``await done()`` is true."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(Worker(gateway, f"w{i}").run(stop)) for i in range(workers)]
    deadline = time.monotonic() + timeout
    try:
        while not await done():
            assert time.monotonic() < deadline, "the workers did not get there in time"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def fetch_events(client: Any, query: str, *,
                       until: Callable[[list[dict[str, Any]]], bool] | None = None) -> list[dict[str, Any]]:
    """Every item of ``GET /v3/<domain>/events?<query>``, following ``paging.next``; with ``until``,
    read again for up to 3 s until it holds (events stored in a second a reader was already shown
    appear once the next second begins)."""
    for _ in range(30):
        items = await _fetch_events_once(client, query)
        if until is None or until(items):
            break
        await asyncio.sleep(0.1)
    return items


async def _fetch_events_once(client: Any, query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    path = f"/v3/{TEST_DOMAIN}/events?{query}"
    for _ in range(50):
        response = await client.get(path, headers=basic_auth())
        assert response.status_code == 200, await response.get_data()
        body = await response.get_json()
        if not body["items"]:
            return items
        items += body["items"]
        path = body["paging"]["next"].split("://", 1)[-1]
        path = path[path.index("/"):]
    raise AssertionError("events paging did not end")


def worker_records(caplog: Any) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "postgate.worker"]


def tracebacks(caplog: Any) -> int:
    return sum(1 for r in worker_records(caplog) if r.exc_info)


def attempt_lines(caplog: Any) -> list[logging.LogRecord]:
    return [r for r in worker_records(caplog) if "failed (attempt" in r.getMessage()]


async def dead_jobs_via_cli(run_cli: RunCli) -> list[dict[str, Any]]:
    code, output = await run_cli(["jobs", "dead", "--json"])
    assert code == 0, output
    return json.loads(output[output.index("["):])


async def scenario(gateway: Gateway, run_cli: RunCli, caplog: Any, max_failures: int) -> None:
    """The whole story on one gateway (see the module docstring)."""
    caplog.set_level(logging.INFO, logger="postgate.worker")
    app = create_app(gateway, background=False)
    async with app.test_app() as test_app:
        await _story(gateway, test_app.test_client(), run_cli, caplog, max_failures)


async def _story(gateway: Gateway, client: Any, run_cli: RunCli, caplog: Any, max_failures: int) -> None:

    # 1. Undecodable content: dead-lettered on the first attempt; 2 rows already sent stay sent.
    batch_id, original = await accept_batch(gateway, 6)
    sent_ids = await mark(gateway, batch_id, 2, RecipientStatus.DELIVERED)
    await store_content(gateway, batch_id, b"\x00 this is not a stored message")

    async def one_dead() -> bool:
        return len(await gateway.queue.list_dead(10)) == 1

    await run_workers_until(gateway, one_dead)
    rows = await gateway.storage.list_recipients(batch_id, 0, 100)
    assert [r.status for r in rows if r.id in sent_ids] == [RecipientStatus.DELIVERED] * 2
    unsent = [r for r in rows if r.id not in sent_ids]
    assert [r.status for r in unsent] == [RecipientStatus.FAILED] * 4
    assert all((r.error or "").startswith("dead-letter: ") for r in unsent)
    failed = await fetch_events(client, "event=failed&tags=bulk-email&ascending=yes&begin=1&limit=300")
    assert sorted(e["recipient"] for e in failed) == sorted(r.address for r in unsent)
    for event in failed:
        assert event["severity"] == "permanent" and event["log-level"] == "error"
        assert event["reason"] == "generic" and event["delivery-status"]["code"] == 550
        assert "cannot be decoded" in event["delivery-status"]["message"]
        assert event["tags"] == ["bulk-email"] and event["message"]["headers"]["message-id"]
    accepted = await fetch_events(client, "event=accepted&ascending=yes&begin=1&limit=300")
    assert len(accepted) == 6  # accepted once each, before the failure
    assert len(attempt_lines(caplog)) == 1 and tracebacks(caplog) == 1

    [listed] = await dead_jobs_via_cli(run_cli)
    assert (listed["batch"], listed["domain"], listed["attempts"]) == (batch_id, TEST_DOMAIN, 1)
    assert "cannot be decoded" in listed["reason"] and listed["dead_at"] is not None
    code, table = await run_cli(["jobs", "dead"])
    assert code == 0 and listed["id"] in table and TEST_DOMAIN in table, table
    code, shown = await run_cli(["jobs", "show", listed["id"]])
    assert code == 0, shown
    assert json.loads(shown[shown.index("{"):])["recipients"] == {"delivered": 2, "failed": 4}

    # 2. The operator fixes the content and retries: only the 4 dead-lettered rows are sent.
    await store_content(gateway, batch_id, original)
    code, output = await run_cli(["jobs", "retry", listed["id"]])
    assert code == 0 and "4 recipient(s)" in output, output
    code, output = await run_cli(["jobs", "retry", listed["id"]])
    assert code != 0 and "no dead-lettered job" in output
    assert await dead_jobs_via_cli(run_cli) == []

    async def all_delivered() -> bool:
        rows = await gateway.storage.list_recipients(batch_id, 0, 100)
        return all(r.status is RecipientStatus.DELIVERED for r in rows)

    await run_workers_until(gateway, all_delivered)
    emls = list((gateway.settings.data_dir / "outbox").rglob("*.eml"))
    assert sorted(int(p.stem) for p in emls) == sorted(r.id for r in unsent)  # never the sent two
    want = sorted(r.address for r in unsent)
    delivered = await fetch_events(client, "event=delivered&ascending=yes&begin=1&limit=300",
                                   until=lambda items: sorted(e["recipient"] for e in items) == want)
    assert sorted(e["recipient"] for e in delivered) == want

    # 3. A bug-like failure: retried with backoff, dead-lettered after max_failures attempts,
    #    one traceback for all of them.
    caplog.clear()
    batch_id, original = await accept_batch(gateway, 3, prefix="reader")
    await store_content(gateway, batch_id, content_that_breaks_events(original))
    await run_workers_until(gateway, one_dead)
    lines = attempt_lines(caplog)
    assert len(lines) == max_failures, [r.getMessage() for r in lines]
    assert [r.levelname for r in lines] == ["WARNING"] * (max_failures - 1) + ["ERROR"]
    assert tracebacks(caplog) == 1 and lines[0].exc_info and not any(r.exc_info for r in lines[1:])
    assert all("TypeError" in r.getMessage() for r in lines)
    [listed] = await dead_jobs_via_cli(run_cli)
    assert (listed["batch"], listed["attempts"]) == (batch_id, max_failures)
    assert listed["reason"].startswith(f"failed {max_failures} times, last: TypeError")
    rows = await gateway.storage.list_recipients(batch_id, 0, 100)
    assert [r.status for r in rows] == [RecipientStatus.FAILED] * 3
    expected = sorted(r.address for r in rows)

    def readers(items: list[dict[str, Any]]) -> list[str]:
        return sorted(e["recipient"] for e in items if e["recipient"].startswith("reader"))

    failed = await fetch_events(client, "event=failed&ascending=yes&begin=1&limit=300",
                                until=lambda items: readers(items) == expected)
    assert readers(failed) == expected
    assert all("TypeError" in e["delivery-status"]["message"] for e in failed
               if e["recipient"].startswith("reader"))
