"""Applying a :class:`~.derive.Tally` to the roll-up tables: a few batch statements in one
transaction, whatever the number of events (SQLite and MySQL/MariaDB).

1. ``INSERT``-ignore the first-open/click candidates into ``dashboard_first_seen`` (its key);
2. those inserted were first: the ``INSERT`` returns them (``RETURNING``, SQLite 3.35+ and
   MariaDB 10.5+), else they are read back (on record with *this* batch's event id: MySQL);
3. upsert the counters (``n = n + new``), the unique ones included;
4. upsert the sends (first and last seen, subject, tags);
5. the same for the per-link click counters (first clicks per link go to ``dashboard_first_seen`` too);
6. upsert the failure counters (the bounce explorer's groups) the same way.

Rows go in key order so concurrent writers on MySQL lock them in the same order.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Sequence
from typing import Any

from tortoise.transactions import in_transaction

from .derive import CountKey, FirstCandidate, Tally, first_counts, link_first_counts

#: Rows per statement.
ROWS_PER_STATEMENT = 400

COUNT_COLUMNS = "domain, dimension, value, bucket, kind, n"
SEND_COLUMNS = "domain, send_key, email_id, subject, tags, first_at, last_at"
FIRST_COLUMNS = "digest, domain, event_id, at"
LINK_COLUMNS = "domain, send_key, url_key, url, kind, n"
FAILURE_COLUMNS = "domain, daily, bucket, kind, code, enhanced, provider, n"
FAILURE_KEY = "domain, daily, bucket, kind, code, enhanced, provider"


class Dialect:
    """The statements that differ between SQLite and MySQL-like servers."""

    def __init__(self, name: str, returning: bool = False) -> None:
        self.mysql = name == "mysql"
        #: ``INSERT … RETURNING`` works (see :func:`_returning`).
        self.returning = returning

    def sql(self, statement: str) -> str:
        return statement.replace("%", "%%").replace("?", "%s") if self.mysql else statement

    @staticmethod
    def values(width: int, rows: int) -> str:
        row = "(" + ", ".join("?" * width) + ")"
        return ", ".join([row] * rows)

    def insert_ignore(self, table: str, columns: str, rows: int) -> str:
        verb = "INSERT IGNORE" if self.mysql else "INSERT OR IGNORE"
        return self.sql(f"{verb} INTO {table} ({columns}) VALUES {self.values(len(columns.split(',')), rows)}")

    def upsert(self, table: str, columns: str, rows: int, key: str, replace: tuple[str, ...]) -> str:
        """Insert ``rows``, or replace the ``replace`` columns of a row whose ``key`` exists."""
        head = f"INSERT INTO {table} ({columns}) VALUES {self.values(len(columns.split(',')), rows)} "
        if self.mysql:
            return self.sql(head + "ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in replace))
        return head + f"ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in replace)

    def add_counts(self, rows: int) -> str:
        head = f"INSERT INTO dashboard_counts ({COUNT_COLUMNS}) VALUES {self.values(6, rows)} "
        if self.mysql:
            return self.sql(head + "ON DUPLICATE KEY UPDATE n = n + VALUES(n)")
        return head + "ON CONFLICT (domain, dimension, value, bucket, kind) DO UPDATE SET n = n + excluded.n"

    def add_links(self, rows: int) -> str:
        head = f"INSERT INTO dashboard_links ({LINK_COLUMNS}) VALUES {self.values(6, rows)} "
        if self.mysql:
            return self.sql(head + "ON DUPLICATE KEY UPDATE n = n + VALUES(n)")
        return head + "ON CONFLICT (domain, send_key, url_key, kind) DO UPDATE SET n = n + excluded.n"

    def add_failures(self, rows: int) -> str:
        head = f"INSERT INTO dashboard_failures ({FAILURE_COLUMNS}) VALUES {self.values(8, rows)} "
        if self.mysql:
            return self.sql(head + "ON DUPLICATE KEY UPDATE n = n + VALUES(n)")
        return head + f"ON CONFLICT ({FAILURE_KEY}) DO UPDATE SET n = n + excluded.n"

    def merge_sends(self, rows: int) -> str:
        head = f"INSERT INTO dashboard_sends ({SEND_COLUMNS}) VALUES {self.values(7, rows)} "
        if self.mysql:
            return self.sql(head + (
                "ON DUPLICATE KEY UPDATE first_at = LEAST(first_at, VALUES(first_at)), "
                "last_at = GREATEST(last_at, VALUES(last_at)), email_id = COALESCE(email_id, VALUES(email_id)), "
                "subject = IF(subject = '', VALUES(subject), subject), tags = IF(tags = '', VALUES(tags), tags)"))
        return head + (
            "ON CONFLICT (domain, send_key) DO UPDATE SET first_at = MIN(first_at, excluded.first_at), "
            "last_at = MAX(last_at, excluded.last_at), email_id = COALESCE(email_id, excluded.email_id), "
            "subject = CASE WHEN subject = '' THEN excluded.subject ELSE subject END, "
            "tags = CASE WHEN tags = '' THEN excluded.tags ELSE tags END")


_returns: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


async def _returning(gateway: Any, db: Any) -> bool:
    """Whether the database answers ``INSERT … RETURNING`` (asked once per gateway)."""
    known = _returns.get(gateway)
    if known is None:
        if db.capabilities.dialect == "sqlite":
            known = sqlite3.sqlite_version_info >= (3, 35)
        else:
            rows = await db.execute_query_dict("SELECT VERSION() AS v")
            known = _mariadb_with_returning(str(rows[0]["v"]) if rows else "")
        _returns[gateway] = known
    return known


def _mariadb_with_returning(version: str) -> bool:
    """``10.11.6-MariaDB-…`` and later (10.5+) return inserted rows; MySQL does not."""
    if "mariadb" not in version.lower():
        return False
    major, _, rest = version.partition(".")
    minor = rest.partition(".")[0]
    return major.isdigit() and minor.isdigit() and (int(major), int(minor)) >= (10, 5)


def _chunks(rows: Sequence[Any], size: int = ROWS_PER_STATEMENT):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


async def apply(gateway: Any, tally: Tally) -> None:
    """Write ``tally`` (see the module doc). Call with the events committed."""
    if not tally.counts and not tally.sends and not tally.links and not tally.link_firsts:
        return
    with gateway.storage.orm():
        async with in_transaction() as db:
            dialect = Dialect(db.capabilities.dialect, await _returning(gateway, db))
            counts = tally.counts
            if tally.firsts:
                counts = counts + first_counts(await _record_firsts(db, dialect, tally.firsts.values()), tally.hosted)
            await _add_counts(db, dialect, counts)
            await _add_failures(db, dialect, tally)
            await _merge_sends(db, dialect, tally)
            links = tally.links
            if tally.link_firsts:
                links = links + link_first_counts(await _record_firsts(db, dialect, tally.link_firsts.values()))
            await _add_links(db, dialect, tally, links)


async def _record_firsts(db: Any, dialect: Dialect, firsts: Any) -> list[FirstCandidate]:
    candidates = sorted(firsts, key=lambda f: f.key)
    if dialect.returning:
        won = []
        for part in _chunks(candidates):
            rows = await db.execute_query_dict(
                dialect.insert_ignore("dashboard_first_seen", FIRST_COLUMNS, len(part)) + " RETURNING digest",
                [v for f in part for v in (f.key, f.domain, f.event_id, f.at)])
            inserted = {row["digest"] for row in rows}
            won.extend(f for f in part if f.key in inserted)
        return won
    for part in _chunks(candidates):
        await db.execute_query(
            dialect.insert_ignore("dashboard_first_seen", FIRST_COLUMNS, len(part)),
            [v for f in part for v in (f.key, f.domain, f.event_id, f.at)])
    won = []
    for part in _chunks(candidates):
        marks = ", ".join("?" * len(part))
        rows = await db.execute_query_dict(
            dialect.sql(f"SELECT digest, event_id FROM dashboard_first_seen WHERE digest IN ({marks})"),
            [f.key for f in part])
        on_record = {row["digest"]: int(row["event_id"]) for row in rows}
        won.extend(f for f in part if on_record.get(f.key) == f.event_id)
    return won


async def _add_counts(db: Any, dialect: Dialect, counts: dict[CountKey, int]) -> None:
    rows = sorted((key, n) for key, n in counts.items() if n)
    for part in _chunks(rows):
        await db.execute_query(dialect.add_counts(len(part)), [v for key, n in part for v in (*key, n)])


async def _add_failures(db: Any, dialect: Dialect, tally: Tally) -> None:
    rows = sorted((key, n) for key, n in tally.failures.items() if n)
    for part in _chunks(rows):
        await db.execute_query(dialect.add_failures(len(part)), [v for key, n in part for v in (*key, n)])


async def _merge_sends(db: Any, dialect: Dialect, tally: Tally) -> None:
    rows = sorted(tally.sends.items())
    for part in _chunks(rows):
        await db.execute_query(
            dialect.merge_sends(len(part)),
            [v for (domain, key), s in part
             for v in (domain, key, s.email_id, s.subject, s.tags, s.first_at, s.last_at)])


async def _add_links(db: Any, dialect: Dialect, tally: Tally, links: dict) -> None:
    rows = sorted((key, n) for key, n in links.items() if n)
    for part in _chunks(rows):
        await db.execute_query(
            dialect.add_links(len(part)),
            [v for (domain, send, key, kind), n in part
             for v in (domain, send, key, tally.urls.get((domain, send, key), ""), kind, n)])
