"""A worker's grants of the shared send window (postgate.send_allowance) on a real SQLite storage."""

from __future__ import annotations

import asyncio

import pytest

from postgate.builtin.sqlite_storage import sqlite_storage
from postgate.send_allowance import BLOCK_SHARE, SendAllowance, block_size


@pytest.fixture
async def storage(tmp_path):
    storage = sqlite_storage(tmp_path / "postgate.sqlite3")
    await storage.migrate()
    await storage.start()
    yield storage
    await storage.stop()


async def open_grants(storage) -> list[tuple[int, float | None]]:
    async with storage.session() as db:
        rows = await db.fetch("SELECT sends, released_at FROM rate_grants ORDER BY id")
    return [(int(sends), released) for sends, released in rows]


def test_blocks_only_when_no_part_comes_near_the_rate():
    assert block_size(13, 100_000) == 100_000 // BLOCK_SHARE
    assert block_size(13, 150) == 13  # a rate parts can reach: each part asks for itself
    assert block_size(8, 14) == 8


async def test_a_rate_far_above_the_parts_costs_one_round_trip_per_block(storage):
    allowance = SendAllowance(storage, "delivery:test", lambda: False)
    grants = [await allowance.take(13, 100_000.0) for _ in range(40)]
    assert allowance.asked == 1 and len({id(g) for g in grants}) == 1
    for grant in grants:
        await allowance.done(grant)
    assert await open_grants(storage) == [(6250, None)]  # still open: later parts spend it
    await allowance.close()
    [(sends, released)] = await open_grants(storage)
    assert sends == 6250 and released is not None


async def test_a_spent_block_is_released_once_its_last_sends_were_made(storage):
    allowance = SendAllowance(storage, "delivery:test", lambda: False)
    first = await allowance.take(1000, 64_000.0)  # a block of 4000
    rest = [await allowance.take(1000, 64_000.0) for _ in range(3)]
    assert allowance.asked == 1 and all(g is first for g in rest)
    fresh = await allowance.take(1000, 64_000.0)  # the block is spent: a new one
    assert fresh is not first and allowance.asked == 2
    for grant in [first, *rest[:-1]]:
        await allowance.done(grant)
    assert [released for _, released in await open_grants(storage)] == [None, None]  # sends still out
    await allowance.done(rest[-1])
    assert [released is not None for _, released in await open_grants(storage)] == [True, False]


async def test_a_tight_rate_asks_for_each_part_and_waits_for_the_window(storage):
    allowance = SendAllowance(storage, "delivery:test", lambda: False)
    first = await allowance.take(5, 5.0)
    await allowance.done(first)  # released at once: counts for one more second
    loop = asyncio.get_running_loop()
    started = loop.time()
    second = await allowance.take(5, 5.0)
    assert loop.time() - started >= 0.9
    await allowance.done(second)
    assert allowance.asked >= 3  # refused at least once
    assert [sends for sends, _ in await open_grants(storage)] == [5]  # the first left the window


async def test_a_stopping_worker_gets_no_grant(storage):
    stopping = asyncio.Event()
    allowance = SendAllowance(storage, "delivery:test", stopping.is_set)
    await allowance.take(5, 5.0)
    waiting = asyncio.create_task(allowance.take(5, 5.0))
    await asyncio.sleep(0.1)
    stopping.set()
    assert await asyncio.wait_for(waiting, 30) is None
