"""The ``mysql`` storage: :class:`TortoiseStorage` with MySQL/MariaDB statements and locking."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from asyncmy.constants import CLIENT
from asyncmy.errors import IntegrityError

from postgate.storage.tortoise_storage import Db, TortoiseStorage

from .settings import MysqlSettings

if TYPE_CHECKING:
    from postgate.app import Gateway

#: The aerich history of the MySQL schema (files live in its ``models/`` folder).
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The ``rate_buckets`` row whose lock queues up concurrent event writers.
EVENTS_LOCK = "postgate:events"


class MysqlStorage(TortoiseStorage):
    """Storage on MySQL 8 / MariaDB ≥ 10.6 (``SKIP LOCKED``), pooled through asyncmy."""

    name = "mysql"
    lock_rows = " FOR UPDATE SKIP LOCKED"
    for_update = " FOR UPDATE"
    integrity_errors = (IntegrityError,)
    greatest = "GREATEST"

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
        # order they stamp recorded_at, so readers never page past a later-committing event.
        await db.execute(
            "INSERT INTO rate_buckets (name, tokens, updated_at) VALUES (?, 0, 0) "
            "ON DUPLICATE KEY UPDATE tokens = tokens",
            (EVENTS_LOCK,),
        )


def _new_values(expr: str) -> str:
    """``NEW.col`` → ``VALUES(col)`` (understood by MySQL 8 and MariaDB alike)."""
    return re.sub(r"NEW\.(\w+)", r"VALUES(\1)", expr)


def factory(gateway: Gateway) -> MysqlStorage:
    return MysqlStorage.from_settings(gateway.plugin_settings("mysql"), gateway)
