"""The ``mysql`` storage: :class:`TortoiseStorage` with MySQL/MariaDB statements and locking."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asyncmy.constants import CLIENT
from asyncmy.errors import IntegrityError, NotSupportedError

from postgate.storage.tortoise_storage import EVENTS_CLOCK, Db, DbApiDb, TortoiseStorage

from .settings import MysqlSettings

if TYPE_CHECKING:
    from postgate.app import Gateway

#: The aerich history of the MySQL schema (files live in its ``models/`` folder).
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The ``rate_buckets`` row whose lock queues up concurrent event writers (and sealing readers).
EVENTS_LOCK = EVENTS_CLOCK
#: The columns of the index that events are paged on.
EVENTS_PAGE_INDEX = "domain,recorded_at,id"


class MysqlDb(DbApiDb):
    """A session on an asyncmy connection; many-row INSERTs bound in binary where MariaDB can."""

    storage: MysqlStorage

    async def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        # MariaDB binds every row in one round trip (COM_STMT_BULK_EXECUTE): no value escaped
        # into SQL text, no statement text for the server to parse. MySQL has no such command
        # (the storage stops trying), and rows that mix value types in a column take the text path.
        if rows and self.storage.bulk_inserts:
            statement = await self.connection.prepare(sql)
            try:
                await statement.execute_bulk(rows)
                return
            except NotSupportedError:
                self.storage.bulk_inserts = False
            except ValueError:
                pass
            finally:
                await statement.close()
        await self.executemany(sql, rows)

    async def insert_row(self, sql: str, args: Sequence[Any]) -> int:
        # A prepared statement binds a batch's compressed content as it is: the text protocol
        # escapes bytes one at a time (about 40 ns a byte), and hex text (UNHEX) doubles what
        # the connection carries and the server parses.
        statement = await self.connection.prepare(sql)
        try:
            result = await statement.execute(args)
        finally:
            await statement.close()
        return int(result.insert_id)


class MysqlStorage(TortoiseStorage):
    """Storage on MySQL 8 / MariaDB ≥ 10.6 (``SKIP LOCKED``), pooled through asyncmy."""

    name = "mysql"
    lock_rows = " FOR UPDATE SKIP LOCKED"
    for_update = " FOR UPDATE"
    # The tables' default collation folds case *and accents* (and pads spaces): keys are already
    # normalised by address_key, so compare them byte for byte, as SQLite does.
    exact_collation = " COLLATE utf8mb4_bin"
    integrity_errors = (IntegrityError,)
    greatest = "GREATEST"
    db_class = MysqlDb
    #: Whether :meth:`MysqlDb.insert_many` binds rows in bulk (cleared on a server without it).
    bulk_inserts = True

    def __init__(self, gateway: Gateway | None, *, db_url: str, minsize: int = 1, maxsize: int = 10,
                 charset: str = "utf8mb4") -> None:
        super().__init__(
            gateway,
            db_url=db_url,
            dialect="mysql",
            migrations=MIGRATIONS,
            # FOUND_ROWS: UPDATE reports matched rows, as SQLite does, not only changed ones.
            options={"minsize": minsize, "maxsize": maxsize, "charset": charset,
                     "client_flag": CLIENT.FOUND_ROWS},
        )
        #: FORCE INDEX clauses by the columns of the index (see :meth:`events_index_hint`).
        self._events_index_hints: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: MysqlSettings, gateway: Gateway | None = None) -> MysqlStorage:
        return cls(gateway, db_url=settings.db_url(), minsize=settings.minsize,
                   maxsize=settings.maxsize, charset=settings.charset)

    def sql(self, statement: str) -> str:
        return statement.replace("%", "%%").replace("?", "%s")

    def insert_ignore(self, table: str, columns: str, count: int = 1) -> str:
        return f"INSERT IGNORE INTO {table} ({columns}) VALUES {self._values(columns, count)}"

    def upsert(self, table: str, columns: str, key: str, updates: Mapping[str, str]) -> str:
        sets = ", ".join(
            f"{col} = {_new_values(expr)}" for col, expr in updates.items()
        )
        return f"INSERT INTO {table} ({columns}) VALUES {self._values(columns, 1)} ON DUPLICATE KEY UPDATE {sets}"

    async def serialize_event_writers(self, db: Db) -> None:
        # An upsert takes an exclusive row lock held until commit: event writers commit in the
        # order they stamp recorded_at, and a reader sealing a second waits for them.
        await db.execute(
            "INSERT INTO rate_buckets (name, tokens, updated_at) VALUES (?, 0, 0) "
            "ON DUPLICATE KEY UPDATE tokens = tokens",
            (EVENTS_LOCK,),
        )

    def past_cursor(self, op: str, recorded_at: int, event_id: int) -> tuple[str, list[Any]]:
        # MariaDB 10.11 and MySQL 8 build no index range from a row comparison; spelled as two
        # conditions, the range starts exactly after the cursor, inside a run of equal times too.
        return (f"(recorded_at {op} ? OR (recorded_at = ? AND id {op} ?))",
                [recorded_at, recorded_at, event_id])

    async def events_index_hint(self, db: Db, search: str | None = None) -> str:
        # Left to itself, MariaDB reads a page through `ref` on the domain alone (key_len = the
        # domain column), from the domain's oldest (or newest) event on, and filters the time
        # range row by row: its cost model ignores LIMIT and prices the range above a full
        # table scan. FORCE INDEX leaves it the range: of the (domain, recorded_at, id) index,
        # or, when the filter requires one recipient or message id, of that column's index
        # (domain, column, recorded_at, id), which holds only the matching rows in page order.
        # An index is found by its columns (its name is generated), once per storage; until
        # the schema has it, no hint.
        columns = EVENTS_PAGE_INDEX if search is None else f"domain,{search},recorded_at,id"
        if columns not in self._events_index_hints:
            rows = await db.fetch(
                "SELECT INDEX_NAME FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'events' GROUP BY INDEX_NAME "
                "HAVING GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR ',') = ?",
                (columns,),
            )
            if not rows:
                return ""
            self._events_index_hints[columns] = f" FORCE INDEX (`{rows[0][0]}`)"
        return self._events_index_hints[columns]


def _new_values(expr: str) -> str:
    """``NEW.col`` → ``VALUES(col)`` (understood by MySQL 8 and MariaDB alike)."""
    return re.sub(r"NEW\.(\w+)", r"VALUES(\1)", expr)


def factory(gateway: Gateway) -> MysqlStorage:
    return MysqlStorage.from_settings(gateway.plugin_settings("mysql"), gateway)
