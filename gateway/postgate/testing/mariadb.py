"""Throwaway MariaDB/MySQL databases for tests: each gets a unique name and is dropped after.

The server comes from ``POSTGATE_TEST_MYSQL_URL`` (default ``mysql://root:@127.0.0.1:3306/``).
Tests never skip when it is down: they fail, naming the variable.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import unquote, urlparse

import pytest_asyncio

DEFAULT_URL = "mysql://root:@127.0.0.1:3306/"


def server_url() -> str:
    return os.environ.get("POSTGATE_TEST_MYSQL_URL", DEFAULT_URL)


async def _admin(sql: str, url: str) -> None:
    import asyncmy

    parts = urlparse(url)
    try:
        connection = await asyncmy.connect(
            host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
            user=unquote(parts.username or "root"), password=unquote(parts.password or ""),
        )
    except Exception as exc:
        raise RuntimeError(
            f"cannot reach the test MySQL/MariaDB server at {parts.hostname}:{parts.port}: {exc}; "
            "start it or point POSTGATE_TEST_MYSQL_URL at one"
        ) from exc
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(sql)
    finally:
        await connection.ensure_closed()


async def create_database(prefix: str = "postgate_test") -> str:
    """Create a uniquely named database; return its ``mysql://`` URL."""
    base = server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", base)
    return base.rstrip("/") + "/" + name


async def drop_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    await _admin(f"DROP DATABASE IF EXISTS `{name}`", url)


@asynccontextmanager
async def temporary_database(prefix: str = "postgate_test") -> AsyncIterator[str]:
    """A fresh database for the block; dropped afterwards whatever happens."""
    url = await create_database(prefix)
    try:
        yield url
    finally:
        await drop_database(url)


@contextmanager
def throwaway_database(prefix: str = "postgate_test") -> Iterator[str]:
    """:func:`temporary_database` for synchronous code (a live server's fixture): created and
    dropped on a thread of its own, so it works whether or not an event loop is running here."""
    with ThreadPoolExecutor(1) as pool:
        url = pool.submit(asyncio.run, create_database(prefix)).result()
        try:
            yield url
        finally:
            pool.submit(asyncio.run, drop_database(url)).result()


@pytest_asyncio.fixture
async def mariadb_url() -> AsyncIterator[str]:
    """URL of a fresh, empty database on the test server (dropped after the test)."""
    async with temporary_database() as url:
        yield url
