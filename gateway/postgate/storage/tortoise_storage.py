"""A :class:`~postgate.backends.Storage` over the tortoise models, for SQLite and MySQL-like servers.

How tortoise-orm 1.1.9 scopes its state, and what this module does about it:

* ``Tortoise.init`` no longer fills process globals: it creates a :class:`tortoise.context.TortoiseContext`
  (connections + app registry) and makes it *current* through a ``ContextVar``; ORM querysets find
  their connection through the current context. A context made current inside one task is not
  current in tasks started elsewhere (request handlers, workers).
* The model classes are still process-wide: initialising a context re-binds each model's base
  query to that context's dialect, so the last context to start decides how querysets quote SQL;
  and the executor caches each model's INSERT statement process-wide, keyed by connection name
  (so connections are named after their dialect, see :func:`tortoise_config`).

Each storage therefore owns a private ``TortoiseContext`` (built in :meth:`TortoiseStorage.start`,
closed in :meth:`TortoiseStorage.stop`, never made global) and runs its queries as SQL on that
context's own client, so any number of storages, of any dialect, work side by side in one process.
aerich drives ``Tortoise.init`` itself and re-initialises whatever context is current, so
:meth:`TortoiseStorage.migrate` runs it in a task with a fresh ``contextvars.Context``. aerich also
keeps class-level state (reset before each run here), so migrations of two storages must run one
after the other, never at the same time.

Plugin apps (``register_models``, see :mod:`postgate.model_apps`) join the same context on the
same connection; plugins query their models through the ORM inside :meth:`TortoiseStorage.orm`,
which makes the private context current for one block of one task. Each app keeps its own aerich
history, migrated after the core's.

Dialect differences are small overridable members (placeholders, row locking, upserts);
``sqlite`` is built in, ``postgate_mysql`` subclasses for MySQL/MariaDB.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import contextvars
import dataclasses
import json
import math
import secrets
import shutil
import sqlite3
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext, _current_context
from tortoise.exceptions import OperationalError

from ..addresses import address_key
from ..backends import IN_FLIGHT, Storage
from ..domain import (
    And,
    Batch,
    BatchCounts,
    BatchCreated,
    DeadJob,
    Event,
    EventCount,
    EventQuery,
    Filter,
    Job,
    JobSummary,
    NewBatch,
    NewRecipient,
    Not,
    Or,
    Recipient,
    RecipientStatus,
    RecipientUpdate,
    ServedEvent,
    Suppression,
    TagInfo,
    Term,
)
from ..event_json import canonical_payload, mailgun_json, splice
from ..model_apps import ModelApp
from ..settings import ConfigError

if TYPE_CHECKING:
    from ..app import Gateway

APP = "models"
MODEL_MODULES = ("postgate.storage.models", "aerich.models")
#: Rows per multi-row statement (keeps every statement far below parameter limits).
CHUNK = 500

_BATCH_COLS = (
    "id, domain, message_id, response_id, email_id, tags, content, testmode, deliver_at, "
    "created_at, enqueued, accepted_logged, recipient_count"
)
_RECIPIENT_COLS = (
    "id, batch_id, domain, address, name, message_id, variables, status, attempts, "
    "lease_owner, lease_until, next_attempt_at, provider_id, error"
)
_EVENT_COLS = (
    "id, event_id, domain, recorded_at, event, recipient, message_id, email_id, tags, "
    "severity, event_key, payload"
)
#: What the events API reads of a row (``recorded_at`` fourth, as in ``_EVENT_COLS``).
_SERVED_COLS = "id, event_id, event, recorded_at, payload, payload_canonical"
#: The ``rate_buckets`` row of the events clock. Its ``updated_at`` is the seal: the first whole
#: second (epoch) in which events may still be stamped, because readers have been shown every
#: earlier one. MySQL-like servers also lock it to queue event writers.
EVENTS_CLOCK = "postgate:events"
#: Microseconds in a second: events are stamped with whole seconds, stored in microseconds.
SECOND = 1_000_000

_SUPPRESSION_COLS = "domain, list_name, address, code, error, tags, kind, reason, created_at"
_JOB_COLS = "id, batch_id, first_id, last_id, available_at, attempts, failures"

#: Event filter fields mapped to columns (``tags`` and ``recipient`` are handled apart).
FILTER_COLUMNS = {
    "event": "event",
    "message-id": "message_id",
    "severity": "severity",
    "email-id": "email_id",
    "reason": "reason",
}

#: Filter fields whose exact term an events index serves: ``(domain, column, recorded_at, id)``.
SEARCH_COLUMNS = {"recipient": "recipient_key", "message-id": "message_id"}

_CLAIMABLE = (
    "(status = 'queued'"
    " OR (status = 'retry' AND (next_attempt_at IS NULL OR next_attempt_at <= ?))"
    " OR (status = 'sending' AND (lease_until IS NULL OR lease_until <= ?)))"
)
_PENDING = "status IN ('queued', 'retry', 'sending')"
_TERMINAL = "status IN ('sent', 'delivered', 'failed', 'suppressed')"


def tortoise_config(db_url: str, dialect: str, options: Mapping[str, Any] | None = None,
                    apps: Sequence[ModelApp] = ()) -> dict[str, Any]:
    """The tortoise config (for contexts and aerich) of a storage at ``db_url``: the core app
    plus every plugin app in ``apps``, all on one connection.

    The connection is named after the dialect: tortoise caches each model's INSERT statement
    process-wide per connection name, so two dialects must never share one.
    """
    connection = expand_db_url(db_url)
    connection["credentials"].update(options or {})
    name = f"postgate_{dialect}"
    config_apps = {APP: {"models": list(MODEL_MODULES), "default_connection": name}}
    for app in apps:
        config_apps[app.label] = {"models": [app.models], "default_connection": name}
    return {"connections": {name: connection}, "apps": config_apps}


def like_escape(value: str) -> str:
    """Escape LIKE wildcards with ``!`` (every statement says ``ESCAPE '!'``)."""
    return value.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def tags_search(tags: Iterable[str]) -> str:
    """Lowercased tags joined as ``|a|b|`` so one tag matches ``LIKE '%|a|%'``."""
    tags = [tag.lower() for tag in tags]
    return f"|{'|'.join(tags)}|" if tags else ""


def dump_json(value: Any) -> str:
    """``value`` as compact JSON text: orjson's (several times faster than the standard library's
    for an event payload), or the standard library's for what orjson refuses (a lone surrogate,
    a key that is not a string)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: ``json.dumps`` without its per-call set-up and cycle check (ledger variables come from JSON).
_encode_variables = json.JSONEncoder(check_circular=False).encode


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class Db(abc.ABC):
    """The statements of one session, whatever the driver: ``fetch``, ``execute``, ``executemany``.

    SQL is written with ``?`` placeholders; :meth:`TortoiseStorage.sql` adapts it.
    """

    def __init__(self, storage: TortoiseStorage, connection: Any) -> None:
        self.storage = storage
        self.connection = connection

    @abc.abstractmethod
    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """Run a query; return its rows."""

    @abc.abstractmethod
    async def execute(self, sql: str, args: Sequence[Any] = ()) -> tuple[int, int | None]:
        """Run a statement; return ``(rowcount, lastrowid)``."""

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per row of arguments."""

    async def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run an ``INSERT … VALUES (?, …)`` for every row, the fastest way the driver has.
        No column may be NULL in every row (leave such a column out of the statement)."""
        await self.executemany(sql, rows)

    async def insert_row(self, sql: str, args: Sequence[Any]) -> int:
        """Run one ``INSERT`` (``bytes`` bound as binary) and return the new row's id."""
        _, row_id = await self.execute(sql, args)
        assert row_id is not None
        return row_id


class SqliteDb(Db):
    """A session on the aiosqlite connection of tortoise's SQLite client."""

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self.connection.execute_fetchall(sql, list(args)))

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> tuple[int, int | None]:
        cursor = await self.connection.execute(sql, list(args))
        try:
            return cursor.rowcount, cursor.lastrowid
        finally:
            await cursor.close()

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.connection.executemany(sql, [list(row) for row in rows])


class DbApiDb(Db):
    """A session on a pooled DB-API style connection (asyncmy)."""

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        async with self.connection.cursor() as cursor:
            await cursor.execute(self.storage.sql(sql), list(args))
            return list(await cursor.fetchall())

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> tuple[int, int | None]:
        async with self.connection.cursor() as cursor:
            await cursor.execute(self.storage.sql(sql), list(args))
            return cursor.rowcount, cursor.lastrowid

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.connection.cursor() as cursor:
            await cursor.executemany(self.storage.sql(sql), [list(row) for row in rows])


class TortoiseStorage(Storage):
    """Storage on the tortoise models, one private ``TortoiseContext`` per instance.

    ``db_url`` is a tortoise URL (``sqlite:///path``, ``mysql://user:pw@host:3306/db``);
    ``options`` are extra connection credentials (pragmas, pool sizes, driver flags);
    ``migrations`` is the aerich location whose ``models/`` folder holds this dialect's history.
    Plugin apps (``register_models``) come from the gateway's ``model_apps``; they share the
    connection, are migrated after the core app and are queried inside :meth:`orm`.
    """

    name = "tortoise"
    #: Appended to a SELECT that leases rows (``FOR UPDATE SKIP LOCKED`` where supported).
    lock_rows = ""
    #: Appended to a SELECT that reads a row it will update.
    for_update = ""
    #: Appended to a text parameter to compare it byte for byte (SQLite's default already).
    exact_collation = ""
    #: Errors a unique-constraint violation raises.
    integrity_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)
    #: The session class on a pooled (non-SQLite) connection.
    db_class: type[DbApiDb] = DbApiDb

    def __init__(
        self,
        gateway: Gateway | None,
        *,
        db_url: str,
        dialect: str,
        migrations: str | Path,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(gateway)  # type: ignore[arg-type]
        self.db_url = db_url
        self.dialect = dialect
        self.migrations = Path(migrations)
        self.options = dict(options or {})
        self._ctx: TortoiseContext | None = None
        #: Plugin-owned tortoise apps this storage hosts (set before :meth:`start`).
        self.model_apps: list[ModelApp] = (
            list(gateway.model_apps.entries.values()) if gateway is not None else []
        )
        #: The clock events are stamped with (epoch seconds); tests may replace it.
        self.clock = time.time

    # -- dialect ----------------------------------------------------------------------------

    def sql(self, statement: str) -> str:
        """Adapt a ``?``-placeholder statement to the driver's paramstyle."""
        return statement

    def insert_ignore(self, table: str, columns: str, count: int = 1) -> str:
        """An INSERT of ``count`` rows that silently skips unique-key duplicates."""
        return f"INSERT OR IGNORE INTO {table} ({columns}) VALUES {self._values(columns, count)}"

    def upsert(self, table: str, columns: str, key: str, updates: Mapping[str, str]) -> str:
        """INSERT one row, or update the row with the same ``key``; ``updates`` maps columns to
        expressions where ``NEW.col`` names the value that was to be inserted."""
        sets = ", ".join(f"{col} = {expr.replace('NEW.', 'excluded.')}" for col, expr in updates.items())
        return (
            f"INSERT INTO {table} ({columns}) VALUES {self._values(columns, 1)} "
            f"ON CONFLICT ({key}) DO UPDATE SET {sets}"
        )

    greatest = "MAX"

    @staticmethod
    def _values(columns: str, count: int) -> str:
        row = f"({_marks(len(columns.split(',')))})"
        return ", ".join([row] * count)

    async def serialize_event_writers(self, db: Db) -> None:
        """Make concurrent :meth:`save_events` calls queue up (SQLite's write lock already does)."""

    def past_cursor(self, op: str, recorded_at: int, event_id: int) -> tuple[str, list[Any]]:
        """``(recorded_at, id) op (cursor)`` for ``op`` ``>`` or ``<``, written so the planner
        seeks the ``(domain, recorded_at, id)`` index to the cursor itself, even inside a run of
        equal times. SQLite seeks on this row value; MySQL-like servers override it."""
        return f"(recorded_at, id) {op} (?, ?)", [recorded_at, event_id]

    async def events_index_hint(self, db: Db, search: str | None = None) -> str:
        """Placed after ``FROM events`` in :meth:`page_events` (an index hint where needed);
        ``search`` is the column the filter requires equal to one value (see :func:`search_column`)."""
        return ""

    # -- lifecycle ----------------------------------------------------------------------------

    def tortoise_config(self) -> dict[str, Any]:
        return tortoise_config(self.db_url, self.dialect, self.options, self.model_apps)

    async def start(self) -> None:
        if self._ctx is None:
            ctx = TortoiseContext()
            with ctx:  # current only while the app registry binds the models
                await ctx.init(config=self.tortoise_config())
            self._ctx = ctx
        await self.check()

    async def stop(self) -> None:
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            await ctx.close_connections()

    async def check(self) -> None:
        async with self.session() as db:
            rows = await db.fetch("SELECT 1")
        if not rows or rows[0][0] != 1:
            raise RuntimeError("the storage answered SELECT 1 with something else")

    @contextmanager
    def orm(self) -> Iterator[TortoiseContext]:
        """Make this storage's tortoise context current for the block, so plugin models
        (``register_models``) query this database: ``with gateway.storage.orm(): await Row.create(…)``.

        Only the calling task sees it (and tasks it starts inside the block). Safe to nest and
        to use from many tasks at once.
        """
        if self._ctx is None:
            raise RuntimeError("the storage is not started")
        # Set per call, not through ``with ctx:``, which keeps one token on the shared context.
        token = _current_context.set(self._ctx)
        try:
            yield self._ctx
        finally:
            _current_context.reset(token)

    @asynccontextmanager
    async def session(self, write: bool = False) -> AsyncIterator[Db]:
        """A connection for a few statements; ``write=True`` wraps them in a transaction that
        holds the write lock from its first statement."""
        if self._ctx is None:
            raise RuntimeError("the storage is not started")
        client = self._ctx.db()
        async with client.acquire_connection() as connection:
            if self.dialect == "sqlite":
                db: Db = SqliteDb(self, connection)
                begin, commit, rollback = "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"
                if not write:
                    yield db
                    return
                try:
                    await connection.execute(begin)
                except asyncio.CancelledError:
                    # aiosqlite still runs the queued BEGIN on its thread: queue the undo behind
                    # it, or the shared connection stays inside a transaction (holding the lock).
                    with contextlib.suppress(sqlite3.OperationalError):
                        await asyncio.shield(connection.execute(rollback))
                    raise
                try:
                    yield db
                except BaseException:
                    await connection.execute(rollback)
                    raise
                try:
                    await connection.execute(commit)
                except BaseException:  # e.g. SQLITE_FULL: the transaction may still be open
                    with contextlib.suppress(Exception):
                        await connection.execute(rollback)
                    raise
            else:
                db = self.db_class(self, connection)
                if not write:
                    yield db
                    return
                await connection.begin()
                try:
                    yield db
                except BaseException:
                    await connection.rollback()
                    raise
                await connection.commit()

    # -- schema ------------------------------------------------------------------------------

    async def migrate(self) -> list[str]:
        """Apply the core history, then each plugin app's; plugin files are named ``app/file``."""
        # A fresh Context: aerich's Tortoise.init must neither see nor replace the caller's context.
        applied = await self._in_fresh_context(self._migrate(APP, self.migrations))
        for app in self.model_apps:
            location = app.migrations / self.dialect
            if not app.versions(self.dialect):
                raise ConfigError(
                    f"the plugin app {app.label!r} ships no {self.dialect} migrations (looked in "
                    f"{app.history(self.dialect)}); its author creates them with "
                    f"`postgate makemigrations {app.label}`"
                )
            done = await self._in_fresh_context(self._migrate(app.label, location))
            applied.extend(f"{app.label}/{name}" for name in done)
        return applied

    @staticmethod
    async def _in_fresh_context(work: Any) -> Any:
        return await asyncio.get_running_loop().create_task(work, context=contextvars.Context())

    async def _migrate(self, app: str, location: Path) -> list[str]:
        from aerich import Command

        _reset_aerich()
        command = Command(tortoise_config=self.tortoise_config(), app=app, location=str(location))
        try:
            await command.init()
            before = await _applied_migrations(app)
            if not before and app == APP:
                await command.init_db(safe=True)  # creates aerich's own table with the core's
            await command.upgrade(run_in_transaction=True)
            after = await _applied_migrations(app)
        finally:
            await command.aclose()
        return [name for name in after if name not in before]

    async def unmigrated_changes(self, scratch: Path) -> list[str]:
        """Ask aerich for a migration from the models against a copy of each history (core and
        plugin apps) in ``scratch``, on this (fully migrated) database; return the new files
        (plugin ones as ``app/file``; none: in sync)."""
        new: list[str] = []
        histories = [(APP, self.migrations, "")] + [
            (app.label, app.migrations / self.dialect, f"{app.label}/") for app in self.model_apps
        ]
        for label, location, prefix in histories:
            copy = Path(scratch) / "migrations" / label
            shutil.copytree(location, copy)
            before = {p.name for p in copy.rglob("*.py")}
            await self._in_fresh_context(self._diff(label, copy))
            new.extend(prefix + p.name for p in sorted(copy.rglob("*.py")) if p.name not in before)
        return new

    async def _diff(self, app: str, location: Path) -> None:
        from aerich import Command

        _reset_aerich()
        command = Command(tortoise_config=self.tortoise_config(), app=app, location=str(location))
        try:
            await command.init()
            await command.migrate(name="unmigrated", no_input=True)
        finally:
            await command.aclose()

    # -- batches and the ledger -----------------------------------------------------------------

    async def create_batch(self, batch: NewBatch, recipients: Sequence[NewRecipient]) -> BatchCreated:
        try:
            return await self._create_batch(batch, recipients)
        except self.integrity_errors:
            # A concurrent call stored the same idempotency key (or ledger rows) first.
            return await self._create_batch(batch, recipients)

    async def _create_batch(self, batch: NewBatch, recipients: Sequence[NewRecipient]) -> BatchCreated:
        async with self.session(write=True) as db:
            if batch.idempotency_key is not None:
                rows = await db.fetch(
                    f"SELECT {_BATCH_COLS} FROM batches WHERE domain = ? AND idempotency_key = ?",
                    (batch.domain, batch.idempotency_key),
                )
                if rows:
                    return BatchCreated(batch=_batch(rows[0]), created=False, recipient_ids=None)
            skipped: list[str] = []
            fresh = list(recipients)
            if batch.email_id is not None and recipients:
                taken: set[str] = set()
                # Stripped too: MariaDB's collations ignore trailing spaces, SQLite's do not.
                addresses = list({r.address for r in recipients} | {r.address.strip() for r in recipients})
                for part in _chunks(addresses):
                    rows = await db.fetch(
                        "SELECT address FROM recipients WHERE domain = ? AND email_id = ? "
                        f"AND address IN ({_marks(len(part))})",
                        (batch.domain, batch.email_id, *part),
                    )
                    taken.update(address_key(row[0]) for row in rows)
                fresh = []
                for recipient in recipients:
                    key = address_key(recipient.address)
                    if key in taken:
                        skipped.append(recipient.address)
                    else:
                        taken.add(key)
                        fresh.append(recipient)
            batch_id = await db.insert_row(
                "INSERT INTO batches (domain, message_id, response_id, email_id, idempotency_key, "
                "tags, content, testmode, deliver_at, created_at, enqueued, accepted_logged, "
                "recipient_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch.domain, batch.message_id, batch.response_id, batch.email_id,
                    batch.idempotency_key, json.dumps(batch.tags), zlib.compress(batch.content, 1),
                    batch.testmode, batch.deliver_at, batch.created_at, False, False, len(fresh),
                ),
            )
            ids: tuple[int, int] | None = None
            if fresh:
                await self._insert_recipients(db, batch_id, batch, fresh)
                low, high = (await db.fetch(
                    "SELECT MIN(id), MAX(id) FROM recipients WHERE batch_id = ?", (batch_id,)
                ))[0]
                ids = (int(low), int(high))
        stored = Batch(
            id=int(batch_id), domain=batch.domain, message_id=batch.message_id,
            response_id=batch.response_id, email_id=batch.email_id, tags=list(batch.tags),
            content=batch.content, testmode=batch.testmode, deliver_at=batch.deliver_at,
            created_at=batch.created_at, enqueued=False, accepted_logged=False,
            recipient_count=len(fresh),
        )
        return BatchCreated(batch=stored, created=True, recipient_ids=ids, skipped=skipped)

    async def _insert_recipients(self, db: Db, batch_id: int, batch: NewBatch,
                                 recipients: Sequence[NewRecipient]) -> None:
        """The ledger rows of a new batch; ``email_id`` and ``name`` are left out (NULL by
        default) when no row has one."""
        columns = ["batch_id", "domain", "address", "message_id", "variables", "status", "attempts"]
        queued = RecipientStatus.QUEUED.value
        rows: list[tuple[Any, ...]] = [
            (batch_id, batch.domain, r.address, r.message_id, _encode_variables(r.variables), queued, 0)
            for r in recipients
        ]
        if batch.email_id is not None:
            columns.append("email_id")
            rows = [(*row, batch.email_id) for row in rows]
        if any(r.name is not None for r in recipients):
            columns.append("name")
            rows = [(*row, r.name) for row, r in zip(rows, recipients, strict=True)]
        await db.insert_many(f"INSERT INTO recipients ({', '.join(columns)}) VALUES ({_marks(len(columns))})", rows)

    async def get_batch(self, batch_id: int) -> Batch | None:
        async with self.session() as db:
            rows = await db.fetch(f"SELECT {_BATCH_COLS} FROM batches WHERE id = ?", (batch_id,))
        return _batch(rows[0]) if rows else None

    async def mark_batch(self, batch_id: int, *, enqueued: bool | None = None,
                         accepted_logged: bool | None = None) -> None:
        sets, args = [], []
        for column, value in (("enqueued", enqueued), ("accepted_logged", accepted_logged)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        if sets:
            async with self.session(write=True) as db:
                await db.execute(f"UPDATE batches SET {', '.join(sets)} WHERE id = ?", (*args, batch_id))

    async def unenqueued_batches(self, older_than: float, limit: int) -> list[Batch]:
        async with self.session() as db:
            rows = await db.fetch(
                f"SELECT {_BATCH_COLS} FROM batches WHERE enqueued = ? AND created_at < ? "
                "ORDER BY created_at, id LIMIT ?",
                (False, older_than, limit),
            )
        return [_batch(row) for row in rows]

    async def claim_recipients(self, batch_id: int, owner: str, lease_seconds: float, limit: int,
                               now: float, first_id: int | None = None,
                               last_id: int | None = None) -> list[Recipient]:
        where, args = _range("batch_id = ?", [batch_id], first_id, last_id)
        lease_until = now + lease_seconds
        async with self.session(write=True) as db:
            rows = await db.fetch(
                f"SELECT {_RECIPIENT_COLS} FROM recipients WHERE {where} AND {_CLAIMABLE} "
                f"ORDER BY id LIMIT ?{self.lock_rows}",
                (*args, now, now, limit),
            )
            if not rows:
                return []
            claimed = [_recipient(row) for row in rows]
            ids = [r.id for r in claimed]
            await db.execute(
                "UPDATE recipients SET status = ?, lease_owner = ?, lease_until = ? "
                f"WHERE id IN ({_marks(len(ids))})",
                (RecipientStatus.SENDING.value, owner, lease_until, *ids),
            )
        for recipient in claimed:
            recipient.in_doubt = recipient.status is RecipientStatus.SENDING
            recipient.status = RecipientStatus.SENDING
            recipient.lease_owner = owner
            recipient.lease_until = lease_until
        return claimed

    async def list_recipients(self, batch_id: int, after_id: int, limit: int) -> list[Recipient]:
        async with self.session() as db:
            rows = await db.fetch(
                f"SELECT {_RECIPIENT_COLS} FROM recipients WHERE batch_id = ? AND id > ? "
                "ORDER BY id LIMIT ?",
                (batch_id, after_id, limit),
            )
        return [_recipient(row) for row in rows]

    async def get_recipients(self, ids: Sequence[int]) -> list[Recipient]:
        out: list[Recipient] = []
        async with self.session() as db:
            for part in _chunks(list(dict.fromkeys(ids))):
                rows = await db.fetch(
                    f"SELECT {_RECIPIENT_COLS} FROM recipients WHERE id IN ({_marks(len(part))}) ORDER BY id",
                    tuple(part),
                )
                out.extend(_recipient(row) for row in rows)
        return out

    async def find_recipients(self, provider_ids: Sequence[str]) -> list[Recipient]:
        out: list[Recipient] = []
        async with self.session() as db:
            for part in _chunks(list(dict.fromkeys(provider_ids))):
                rows = await db.fetch(
                    f"SELECT {_RECIPIENT_COLS} FROM recipients WHERE provider_id IN ({_marks(len(part))}) "
                    "ORDER BY id",
                    tuple(part),
                )
                out.extend(_recipient(row) for row in rows)
        return out

    async def record_provider_ids(self, pairs: Sequence[tuple[int, str]]) -> int:
        latest = list({rid: pid for rid, pid in pairs}.items())
        if not latest:
            return 0
        changed = 0
        async with self.session(write=True) as db:
            for part in _chunks(latest):
                ids = [rid for rid, _ in part]
                expr, args = _case("provider_id", ids, [pid for _, pid in part], False)
                rows = await db.fetch(
                    f"SELECT id FROM recipients WHERE id IN ({_marks(len(ids))}) AND provider_id IS NULL",
                    tuple(ids),
                )
                todo = [row[0] for row in rows]
                if not todo:
                    continue
                await db.execute(
                    # MySQL assigns left to right: the lease columns read status before it changes.
                    "UPDATE recipients SET "
                    "finished_at = CASE WHEN status IN ('sending', 'retry') THEN ? ELSE finished_at END, "
                    "lease_owner = CASE WHEN status IN ('sending', 'retry') THEN NULL ELSE lease_owner END, "
                    "lease_until = CASE WHEN status IN ('sending', 'retry') THEN NULL ELSE lease_until END, "
                    "next_attempt_at = CASE WHEN status IN ('sending', 'retry') THEN NULL "
                    "ELSE next_attempt_at END, "
                    "status = CASE WHEN status IN ('sending', 'retry') THEN 'sent' ELSE status END, "
                    f"provider_id = {expr} "
                    f"WHERE id IN ({_marks(len(todo))}) AND provider_id IS NULL",
                    (time.time(), *args, *todo),
                )
                changed += len(todo)
        return changed

    marks_dispatch = True

    async def mark_dispatched(self, ids: Sequence[int], owner: str, lease_until: float) -> list[int]:
        marked = (await self.mark_dispatched_groups({owner: ids}, lease_until)).get(owner, set())
        return [i for i in dict.fromkeys(ids) if i in marked]

    async def mark_dispatched_groups(self, groups: Mapping[str, Sequence[int]],
                                     lease_until: float) -> dict[str, set[int]]:
        return await self.update_and_mark((), groups, lease_until)

    async def update_recipients(self, updates: Sequence[RecipientUpdate]) -> None:
        await self.update_and_mark(updates, {}, 0.0)

    async def update_and_mark(self, updates: Sequence[RecipientUpdate], groups: Mapping[str, Sequence[int]],
                              lease_until: float) -> dict[str, set[int]]:
        latest = list({u.id: u for u in updates}.values())
        wanted = {owner: list(dict.fromkeys(ids)) for owner, ids in groups.items() if ids}
        if not latest and not wanted:
            return {}
        async with self.session(write=True) as db:  # one commit for the answers and the marks
            await self._update(db, latest)
            return await self._mark(db, wanted, lease_until)

    async def _mark(self, db: Db, wanted: Mapping[str, list[int]], lease_until: float) -> dict[str, set[int]]:
        by_owner: dict[str, set[int]] = {}
        for owner, ids in wanted.items():
            marked = by_owner[owner] = set()
            for part in _chunks(ids):
                where = f"id IN ({_marks(len(part))}) AND status = 'sending' AND lease_owner = ?"
                changed, _ = await db.execute(f"UPDATE recipients SET error = ?, lease_until = ? WHERE {where}",
                                              (IN_FLIGHT, lease_until, *part, owner))
                if changed == len(part):  # every row still this owner's: no second look
                    marked.update(part)
                    continue
                rows = await db.fetch(f"SELECT id FROM recipients WHERE {where} AND error = ?",
                                      (*part, owner, IN_FLIGHT))
                marked.update(int(row[0]) for row in rows)
        return by_owner

    async def _update(self, db: Db, latest: list[RecipientUpdate]) -> None:
        for part in _chunks(latest):
            sets, args = [], []
            for column, keep, values in (
                ("status", False, [u.status.value for u in part]),
                ("attempts", True, [u.attempts for u in part]),
                ("next_attempt_at", False, [u.next_attempt_at for u in part]),
                ("provider_id", True, [u.provider_id for u in part]),
                ("error", False, [u.error for u in part]),
            ):
                expr, expr_args = _case(column, [u.id for u in part], values, keep)
                sets.append(f"{column} = {expr}")
                args.extend(expr_args)
            ids = [u.id for u in part]
            # A row keeps the time it first became terminal; one that is not has none.
            finished = [u.id for u in part if u.status.terminal]
            if not finished:
                sets.append("finished_at = NULL")
            elif len(finished) == len(ids):
                sets.append("finished_at = COALESCE(finished_at, ?)")
                args.append(time.time())
            else:
                sets.append(f"finished_at = CASE WHEN id IN ({_marks(len(finished))}) "
                            "THEN COALESCE(finished_at, ?) END")
                args.extend([*finished, time.time()])
            await db.execute(
                f"UPDATE recipients SET {', '.join(sets)}, lease_owner = NULL, lease_until = NULL "
                f"WHERE id IN ({_marks(len(ids))})",
                (*args, *ids),
            )

    async def pending_recipients(self, batch_id: int, first_id: int | None = None,
                                 last_id: int | None = None) -> tuple[int, float | None]:
        where, args = _range("batch_id = ?", [batch_id], first_id, last_id)
        async with self.session() as db:
            count, ready, earliest = (await db.fetch(
                "SELECT COUNT(*), SUM(CASE WHEN status = 'queued' "
                "OR (status = 'retry' AND next_attempt_at IS NULL) "
                "OR (status = 'sending' AND lease_until IS NULL) THEN 1 ELSE 0 END), "
                "MIN(CASE WHEN status = 'retry' THEN next_attempt_at "
                "WHEN status = 'sending' THEN lease_until END) "
                f"FROM recipients WHERE {where} AND {_PENDING}",
                args,
            ))[0]
        count = int(count or 0)
        if not count or int(ready or 0) or earliest is None or float(earliest) <= time.time():
            return count, None
        return count, float(earliest)

    async def batch_progress(self, since: float, now: float) -> list[BatchCounts]:
        # Three statements for any number of batches: the (status, finished_at, batch_id) index
        # names the batches, then their rows are counted by status, then their headers read.
        async with self.session() as db:
            rows = await db.fetch(
                f"SELECT DISTINCT batch_id FROM recipients WHERE {_PENDING} "
                f"UNION SELECT DISTINCT batch_id FROM recipients WHERE {_TERMINAL} AND finished_at >= ?",
                (since,),
            )
            batch_ids = sorted(int(row[0]) for row in rows)
            counted: dict[int, list[Sequence[Any]]] = {}
            headers: dict[int, Sequence[Any]] = {}
            for part in _chunks(batch_ids):
                marks = _marks(len(part))
                for row in await db.fetch(
                    "SELECT batch_id, status, COUNT(*), "
                    "SUM(CASE WHEN status = 'sending' AND (lease_until IS NULL OR lease_until <= ?) "
                    "THEN 1 ELSE 0 END), "
                    "SUM(CASE WHEN finished_at >= ? THEN 1 ELSE 0 END), MAX(finished_at) "
                    f"FROM recipients WHERE batch_id IN ({marks}) GROUP BY batch_id, status",
                    (now, since, *part),
                ):
                    counted.setdefault(int(row[0]), []).append(row)
                for row in await db.fetch(
                    f"SELECT id, domain, email_id, tags, created_at, deliver_at FROM batches WHERE id IN ({marks})",
                    tuple(part),
                ):
                    headers[int(row[0])] = row
        out = []
        for batch_id in batch_ids:
            if batch_id not in headers or batch_id not in counted:
                continue  # purged meanwhile
            _, domain, email_id, tags, created_at, deliver_at = headers[batch_id]
            groups = counted[batch_id]
            finished_times = [float(g[5]) for g in groups if g[5] is not None]
            out.append(BatchCounts(
                batch_id=batch_id, domain=domain, email_id=email_id, tags=list(_json(tags) or []),
                created_at=float(created_at),
                deliver_at=None if deliver_at is None else float(deliver_at),
                counts={str(g[1]): int(g[2]) for g in groups},
                in_doubt=sum(int(g[3] or 0) for g in groups),
                finished_since=sum(int(g[4] or 0) for g in groups),
                last_finished_at=max(finished_times, default=None),
            ))
        return out

    # -- events -------------------------------------------------------------------------------

    async def save_events(self, events: Sequence[Event]) -> list[Event]:
        if not events:
            return []
        async with self.session(write=True) as db:
            await self.serialize_event_writers(db)
            keys = list({e.key for e in events if e.key is not None})
            seen: set[str] = set()
            for part in _chunks(keys):
                rows = await db.fetch(
                    f"SELECT event_key FROM events WHERE event_key IN ({_marks(len(part))})", part
                )
                seen.update(row[0] for row in rows)
            fresh = []
            for event in events:
                if event.key is not None:
                    if event.key in seen:
                        continue
                    seen.add(event.key)
                fresh.append(event)
            if not fresh:
                return []
            # One whole second for the call, under the writers' lock: never before the last
            # stamp (the clock never goes backwards) nor before the seal (a second some reader
            # has been shown is closed), so (recorded_at, id) ascends in commit order.
            seal = await self._event_seal(db)
            last = await db.fetch("SELECT id, recorded_at FROM events ORDER BY id DESC LIMIT 1")
            last_id, last_recorded = (int(last[0][0]), int(last[0][1])) if last else (0, 0)
            second = max(math.floor(self.clock()), _ceil_second(last_recorded), seal)
            recorded_at = second * SECOND
            stored = [
                dataclasses.replace(e, event_id=secrets.token_urlsafe(16), recorded_at=recorded_at)
                for e in fresh
            ]
            columns = (
                "event_id, domain, recorded_at, event, recipient, recipient_key, message_id, "
                "email_id, tags, tags_search, severity, reason, event_key, payload, payload_canonical"
            )
            for part in _chunks(stored):
                await db.execute(
                    self.insert_ignore("events", columns, len(part)),
                    [value for e in part for value in (
                        e.event_id, e.domain, e.recorded_at, e.event, e.recipient,
                        address_key(e.recipient) if e.recipient is not None else None, e.message_id,
                        e.email_id, dump_json(e.tags), tags_search(e.tags), e.severity,
                        _reason(e.payload), e.key, *_stored_payload(e),
                    )],
                )
            rows = await db.fetch("SELECT id, event_id FROM events WHERE id > ? ORDER BY id", (last_id,))
        by_event_id = {e.event_id: e for e in stored}
        out = []
        for row_id, event_id in rows:
            event = by_event_id.get(event_id)
            if event is not None:
                event.id = int(row_id)
                out.append(event)
        return out

    async def page_events(self, query: EventQuery) -> list[Event]:
        return [_event(row) for row in await self._page_rows(query, _EVENT_COLS)]

    async def page_served_events(self, query: EventQuery) -> list[ServedEvent]:
        # Canonical payloads are spliced (postgate.event_json); other rows parsed and encoded.
        served = []
        for row_id, event_id, event, recorded_at, payload, canonical in await self._page_rows(query, _SERVED_COLS):
            if canonical:
                text = splice(event_id, int(recorded_at), payload)
            else:
                text = mailgun_json(Event(domain="", event=event, recipient=None, message_id=None,
                                          payload=_json(payload), event_id=event_id,
                                          recorded_at=int(recorded_at)))
            served.append(ServedEvent(id=int(row_id), recorded_at=int(recorded_at), json=text))
        return served

    async def _page_rows(self, query: EventQuery, columns: str) -> list[Sequence[Any]]:
        """The rows (``columns``, ``recorded_at`` the fourth) of one page of :meth:`page_events`."""
        # A keyset page: one range of the (domain, recorded_at, id) index, read in its order and
        # stopped after `limit` matches; filters are residual conditions on the rows read. A
        # filter that requires one recipient or message id reads (domain, column, recorded_at,
        # id) instead: the same order, only the matching rows.
        # Events stamped after the current second are not shown yet (a seal can put a fresh
        # event up to one second ahead, see save_events).
        visible_end = None if query.live else (math.floor(self.clock()) + 1) * SECOND
        where, args = ["domain = ?"], [query.domain]
        begin, end, cursor = query.begin, query.end, query.after
        if query.ascending:
            direction, after, before = "ASC", ">", "<"
            if visible_end is not None:
                end = visible_end if end is None else min(end, visible_end)
            cut_off = end if query.end is not None else None  # the caller's own bound, capped
        else:
            direction, after, before = "DESC", "<", ">"
            if visible_end is not None:
                begin = visible_end - 1 if begin is None else min(begin, visible_end - 1)
            cut_off = begin + 1 if query.begin is not None and begin is not None else None
        if begin is not None and cursor is not None:
            # Keep the one lower bound (in the direction of travel) that implies the other, so
            # the range starts there (given both, SQLite seeks to the first one written).
            if (begin > cursor[0]) if query.ascending else (begin < cursor[0]):
                cursor = None
            else:
                begin = None
        if begin is not None:
            where.append(f"recorded_at {after}= ?")
            args.append(begin)
        if cursor is not None:
            clause, clause_args = self.past_cursor(after, *cursor)
            where.append(clause)
            args.extend(clause_args)
        if end is not None:
            where.append(f"recorded_at {before} ?")
            args.append(end)
        if query.filter is not None:
            clause, clause_args = filter_sql(query.filter, exact=self.exact_collation)
            where.append(clause)
            args.extend(clause_args)

        def seal_needed(rows: list[Sequence[Any]]) -> int:
            # Every second the page shows, and every second before the caller's own cut-off,
            # must be closed to writers before the caller can move past it.
            shown = max((int(row[3]) for row in rows), default=-1) // SECOND + 1
            return max(shown, _ceil_second(cut_off) if cut_off is not None else 0)

        async with self.session() as db:
            hint = await self.events_index_hint(db, search_column(query.filter))
            statement = (
                f"SELECT {columns} FROM events{hint} WHERE {' AND '.join(where)} "
                f"ORDER BY recorded_at {direction}, id {direction} LIMIT ?"
            )
            seal = await self._event_seal(db)
            rows = await db.fetch(statement, (*args, query.limit))
        if not query.live and seal_needed(rows) > seal:
            # Seal under the writers' lock: no writer is then between its stamp and its commit,
            # so the page read again is complete for every second it closes.
            async with self.session(write=True) as db:
                await self.serialize_event_writers(db)
                rows = await db.fetch(statement, (*args, query.limit))
                await db.execute(
                    self.upsert("rate_buckets", "name, tokens, updated_at", "name",
                                {"updated_at": f"{self.greatest}(updated_at, NEW.updated_at)"}),
                    (EVENTS_CLOCK, 0, seal_needed(rows)),
                )
        return rows

    async def _event_seal(self, db: Db) -> int:
        """The events clock's seal (see :data:`EVENTS_CLOCK`), 0 before the first."""
        rows = await db.fetch("SELECT updated_at FROM rate_buckets WHERE name = ?", (EVENTS_CLOCK,))
        return int(float(rows[0][0])) if rows else 0

    def count_events_statement(self, domain: str, events: Sequence[str], start: float, end: float,
                               resolution: int, tag: str | None = None, *,
                               hint: str = "") -> tuple[str, list[Any]]:
        """The ``/stats`` query: a range of the ``(domain, recorded_at, id)`` index (``hint``
        forces it where the planner would not pick it, as for event pages)."""
        step = int(resolution) * 1_000_000
        where = (
            f"domain = ? AND recorded_at >= ? AND recorded_at < ? AND event IN ({_marks(len(events))})"
        )
        args: list[Any] = [step, domain, int(start * 1_000_000), int(end * 1_000_000), *events]
        if tag is not None:
            where += " AND tags_search LIKE ? ESCAPE '!'"
            args.append(f"%|{like_escape(tag.lower())}|%")
        statement = (
            "SELECT bucket, event, severity, reason, COUNT(*) FROM ("
            f"SELECT recorded_at - (recorded_at % ?) AS bucket, event, severity, reason "
            f"FROM events{hint} WHERE {where}) AS picked "
            "GROUP BY bucket, event, severity, reason ORDER BY bucket, event, severity, reason"
        )
        return statement, args

    async def count_events(self, domain: str, events: Sequence[str], start: float, end: float,
                           resolution: int, tag: str | None = None) -> list[EventCount]:
        if not events:
            return []
        async with self.session() as db:
            statement, args = self.count_events_statement(
                domain, events, start, end, resolution, tag, hint=await self.events_index_hint(db))
            rows = await db.fetch(statement, args)
        return [
            EventCount(bucket=int(b) // 1_000_000, event=e, severity=s, reason=r, count=int(n))
            for b, e, s, r, n in rows
        ]

    async def purge(self, before: float, batch_size: int) -> int:
        removed = 0
        async with self.session(write=True) as db:
            rows = await db.fetch("SELECT id, recorded_at FROM events ORDER BY id LIMIT ?", (batch_size,))
            cutoff = int(before * 1_000_000)
            # ids ascend with recorded_at: the old events are the first ones in id order.
            last_old = None
            for row_id, recorded_at in rows:
                if int(recorded_at) >= cutoff:
                    break
                last_old = int(row_id)
            if last_old is not None:
                count, _ = await db.execute("DELETE FROM events WHERE id <= ?", (last_old,))
                removed += count
            rows = await db.fetch(
                "SELECT id FROM batches WHERE created_at < ? ORDER BY created_at LIMIT ?",
                (before, batch_size),
            )
            batch_ids = [int(row[0]) for row in rows]
            if batch_ids:
                marks = _marks(len(batch_ids))
                count, _ = await db.execute(f"DELETE FROM recipients WHERE batch_id IN ({marks})", batch_ids)
                removed += count
                count, _ = await db.execute(f"DELETE FROM batches WHERE id IN ({marks})", batch_ids)
                removed += count
        return removed

    # -- suppressions -------------------------------------------------------------------------

    async def add_suppressions(self, items: Sequence[Suppression]) -> None:
        if not items:
            return
        columns = f"{_SUPPRESSION_COLS}, address_key"
        updates = {c: f"NEW.{c}" for c in ("address", "code", "error", "tags", "kind", "reason", "created_at")}
        statement = self.upsert("suppressions", columns, "domain, list_name, address_key", updates)
        async with self.session(write=True) as db:
            await db.executemany(statement, [
                (s.domain, s.list, s.address, s.code, s.error, json.dumps(s.tags), s.kind, s.reason,
                 s.created_at, address_key(s.address))
                for s in items
            ])

    async def get_suppression(self, domain: str, list_name: str, address: str) -> Suppression | None:
        async with self.session() as db:
            rows = await db.fetch(
                f"SELECT {_SUPPRESSION_COLS} FROM suppressions "
                "WHERE domain = ? AND list_name = ? AND address_key = ?",
                (domain, list_name, address_key(address)),
            )
        return _suppression(rows[0]) if rows else None

    async def delete_suppression(self, domain: str, list_name: str, address: str) -> bool:
        async with self.session(write=True) as db:
            count, _ = await db.execute(
                "DELETE FROM suppressions WHERE domain = ? AND list_name = ? AND address_key = ?",
                (domain, list_name, address_key(address)),
            )
        return count > 0

    async def clear_suppressions(self, domain: str, list_name: str) -> int:
        async with self.session(write=True) as db:
            count, _ = await db.execute(
                "DELETE FROM suppressions WHERE domain = ? AND list_name = ?", (domain, list_name)
            )
        return count

    async def list_suppressions(self, domain: str, list_name: str, *, limit: int,
                                pivot: str | None = None, forward: bool = True,
                                term: str | None = None) -> list[Suppression]:
        rows = await self._pivot_page(
            f"SELECT {_SUPPRESSION_COLS}, address_key FROM suppressions WHERE domain = ? AND list_name = ?",
            [domain, list_name], "address_key", limit, pivot and address_key(pivot), forward,
            term and address_key(term),
        )
        return [_suppression(row) for row in rows]

    async def find_suppressions(self, domain: str, addresses: Sequence[str]) -> list[Suppression]:
        keys = sorted({address_key(a) for a in addresses})
        if not keys:
            return []
        domains = sorted({k.rpartition("@")[2] for k in keys if "@" in k})
        where = f"address_key IN ({_marks(len(keys))})"
        if domains:
            where = (
                f"({where} OR (list_name = 'whitelists' AND kind = 'domain' "
                f"AND address_key IN ({_marks(len(domains))})))"
            )
        async with self.session() as db:
            rows = await db.fetch(
                f"SELECT {_SUPPRESSION_COLS} FROM suppressions WHERE domain = ? AND {where}",
                (domain, *keys, *domains),
            )
        return [_suppression(row) for row in rows]

    # -- tags ---------------------------------------------------------------------------------

    async def touch_tags(self, domain: str, tags: Sequence[str], seen: float) -> None:
        unique = list(dict.fromkeys(tags))
        if not unique:
            return
        statement = self.upsert(
            "tags", "domain, tag, description, first_seen, last_seen", "domain, tag",
            {"last_seen": f"{self.greatest}(last_seen, NEW.last_seen)"},
        )
        async with self.session(write=True) as db:
            await db.executemany(statement, [(domain, tag, "", seen, seen) for tag in unique])

    async def list_tags(self, domain: str, *, limit: int, pivot: str | None = None,
                        forward: bool = True, prefix: str | None = None) -> list[TagInfo]:
        rows = await self._pivot_page(
            "SELECT domain, tag, description, first_seen, last_seen FROM tags WHERE domain = ?",
            [domain], "tag", limit, pivot, forward, prefix,
        )
        return [_tag(row) for row in rows]

    async def get_tag(self, domain: str, tag: str) -> TagInfo | None:
        async with self.session() as db:
            rows = await db.fetch(
                "SELECT domain, tag, description, first_seen, last_seen FROM tags "
                "WHERE domain = ? AND tag = ?",
                (domain, tag),
            )
        return _tag(rows[0]) if rows else None

    async def update_tag(self, domain: str, tag: str, description: str) -> bool:
        async with self.session(write=True) as db:
            count, _ = await db.execute(
                "UPDATE tags SET description = ? WHERE domain = ? AND tag = ?", (description, domain, tag)
            )
        return count > 0

    async def delete_tag(self, domain: str, tag: str) -> bool:
        async with self.session(write=True) as db:
            count, _ = await db.execute("DELETE FROM tags WHERE domain = ? AND tag = ?", (domain, tag))
        return count > 0

    async def _pivot_page(self, select: str, args: list[Any], column: str, limit: int,
                          pivot: str | None, forward: bool, prefix: str | None) -> list[Sequence[Any]]:
        """Rows ordered by ``column`` after (or, going back, before) ``pivot``, ascending."""
        where = ""
        if prefix:
            where += f" AND {column} LIKE ? ESCAPE '!'"
            args = [*args, f"{like_escape(prefix)}%"]
        if pivot is not None:
            where += f" AND {column} {'>' if forward else '<'} ?"
            args = [*args, pivot]
        order = "ASC" if forward else "DESC"
        async with self.session() as db:
            rows = await db.fetch(f"{select}{where} ORDER BY {column} {order} LIMIT ?", (*args, limit))
        return rows if forward else rows[::-1]

    # -- local queue ---------------------------------------------------------------------------

    async def enqueue_jobs(self, queue: str, jobs: Sequence[Job]) -> None:
        if not jobs:
            return
        created = time.time()
        async with self.session(write=True) as db:
            await db.executemany(
                "INSERT INTO queue_jobs (queue, batch_id, first_id, last_id, available_at, attempts, "
                "created_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
                [(queue, j.batch_id, j.first_id, j.last_id, j.not_before or 0.0, created) for j in jobs],
            )

    async def lease_jobs(self, queue: str, owner: str, max_jobs: int, lease_seconds: float,
                         now: float) -> list[Job]:
        async with self.session(write=True) as db:
            rows = await db.fetch(
                f"SELECT {_JOB_COLS} FROM queue_jobs WHERE queue = ? AND available_at <= ? "
                "AND (lease_until IS NULL OR lease_until <= ?) AND dead_at IS NULL "
                f"ORDER BY available_at, id LIMIT ?{self.lock_rows}",
                (queue, now, now, max_jobs),
            )
            if not rows:
                return []
            ids = [int(row[0]) for row in rows]
            await db.execute(
                "UPDATE queue_jobs SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 "
                f"WHERE id IN ({_marks(len(ids))})",
                (owner, now + lease_seconds, *ids),
            )
        return [
            Job(batch_id=int(batch_id), first_id=_int(first_id), last_id=_int(last_id),
                not_before=float(available_at) or None, id=str(row_id), receipt=owner,
                attempts=int(attempts) + 1, failures=int(failures))
            for row_id, batch_id, first_id, last_id, available_at, attempts, failures in rows
        ]

    async def extend_job(self, job: Job, owner: str, lease_seconds: float, now: float) -> None:
        async with self.session(write=True) as db:
            await db.execute(
                "UPDATE queue_jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?",
                (now + lease_seconds, _job_id(job), owner),
            )

    async def delete_jobs(self, jobs: Sequence[Job]) -> None:
        ids = [_job_id(j) for j in jobs]
        if not ids:
            return
        async with self.session(write=True) as db:
            for part in _chunks(ids):
                await db.execute(f"DELETE FROM queue_jobs WHERE id IN ({_marks(len(part))})", part)

    async def release_job(self, job: Job, available_at: float) -> None:
        async with self.session(write=True) as db:
            await db.execute(
                "UPDATE queue_jobs SET available_at = ?, lease_owner = NULL, lease_until = NULL "
                "WHERE id = ?",
                (available_at, _job_id(job)),
            )

    async def count_jobs(self, queue: str) -> int:
        async with self.session() as db:
            rows = await db.fetch("SELECT COUNT(*) FROM queue_jobs WHERE queue = ? AND dead_at IS NULL",
                                  (queue,))
        return int(rows[0][0])

    async def job_summary(self, queue: str) -> JobSummary | None:
        async with self.session() as db:
            jobs, dead, oldest = (await db.fetch(
                "SELECT SUM(CASE WHEN dead_at IS NULL THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN dead_at IS NULL THEN 0 ELSE 1 END), "
                "MIN(CASE WHEN dead_at IS NULL THEN created_at END) FROM queue_jobs WHERE queue = ?",
                (queue,),
            ))[0]
        return JobSummary(jobs=int(jobs or 0), dead=int(dead or 0),
                          oldest_created_at=None if oldest is None else float(oldest))

    async def fail_job(self, job: Job, available_at: float, error: str) -> int:
        async with self.session(write=True) as db:
            await db.execute(
                "UPDATE queue_jobs SET failures = failures + 1, error = ?, available_at = ?, "
                "lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (error, available_at, _job_id(job)),
            )
            rows = await db.fetch("SELECT failures FROM queue_jobs WHERE id = ?", (_job_id(job),))
        return int(rows[0][0]) if rows else job.failures + 1

    async def bury_job(self, job: Job, error: str, now: float) -> None:
        async with self.session(write=True) as db:
            await db.execute(
                "UPDATE queue_jobs SET dead_at = ?, error = ?, failures = ?, lease_owner = NULL, "
                "lease_until = NULL WHERE id = ?",
                (now, error, job.failures, _job_id(job)),
            )

    async def dead_jobs(self, queue: str, limit: int) -> list[DeadJob]:
        async with self.session() as db:
            rows = await db.fetch(
                f"SELECT {_JOB_COLS}, error, dead_at FROM queue_jobs WHERE queue = ? AND dead_at IS NOT NULL "
                "ORDER BY dead_at, id LIMIT ?",
                (queue, limit),
            )
        return [_dead_job(row) for row in rows]

    async def find_dead_job(self, queue: str, job_id: str) -> DeadJob | None:
        if not _is_row_id(job_id):
            return None
        async with self.session() as db:
            rows = await db.fetch(
                f"SELECT {_JOB_COLS}, error, dead_at FROM queue_jobs WHERE id = ? AND queue = ? "
                "AND dead_at IS NOT NULL",
                (int(job_id), queue),
            )
        return _dead_job(rows[0]) if rows else None

    async def revive_job(self, queue: str, job_id: str, now: float) -> DeadJob | None:
        if not _is_row_id(job_id):
            return None
        async with self.session(write=True) as db:
            rows = await db.fetch(
                f"SELECT {_JOB_COLS}, error, dead_at FROM queue_jobs WHERE id = ? AND queue = ? "
                f"AND dead_at IS NOT NULL{self.for_update}",
                (int(job_id), queue),
            )
            if not rows:
                return None
            await db.execute(
                "UPDATE queue_jobs SET dead_at = NULL, failures = 0, available_at = ?, lease_owner = NULL, "
                "lease_until = NULL WHERE id = ?",
                (now, int(job_id)),
            )
        return _dead_job(rows[0])

    # -- shared rate budget -------------------------------------------------------------------

    async def grant_sends(self, bucket: str, count: int, budget: int, window: float, now: float,
                          lease: float, ticket: int = 0) -> tuple[float, int | None]:
        async with self.session(write=True) as db:
            # The bucket's row is the lock that serialises grants of every worker and process; its
            # ``tokens`` hold the ticket of the caller next in line, ``updated_at`` until when. After a
            # grant to a ticket they hold it negated: that caller may not take the next place in line
            # (its next part asks at once, so it would always beat a caller sleeping out its wait).
            await db.execute(
                self.upsert("rate_buckets", "name, tokens, updated_at", "name", {"tokens": "tokens"}),
                (bucket, 0, now),
            )
            line = await db.fetch(f"SELECT tokens, updated_at FROM rate_buckets WHERE name = ?{self.for_update}",
                                  (bucket,))
            waiting, until = (int(line[0][0] or 0), float(line[0][1] or 0.0)) if line else (0, 0.0)
            if waiting and until < now:
                waiting = 0  # the caller next in line did not come back: its place lapses
            last, waiting = (-waiting, 0) if waiting < 0 else (0, waiting)
            await db.execute(
                "DELETE FROM rate_grants WHERE bucket = ? AND "
                "(released_at <= ? OR (released_at IS NULL AND granted_at < ?))",
                (bucket, now - window, now - lease),
            )
            live = await db.fetch("SELECT sends, released_at FROM rate_grants WHERE bucket = ?", (bucket,))
            excess = sum(int(sends) for sends, _ in live) + count - budget
            if (excess <= 0 or not live) and waiting in (0, ticket):
                _, grant_id = await db.execute(
                    "INSERT INTO rate_grants (bucket, sends, granted_at) VALUES (?, ?, ?)", (bucket, count, now)
                )
                if ticket or waiting or last:
                    await db.execute("UPDATE rate_buckets SET tokens = ?, updated_at = ? WHERE name = ?",
                                     (-ticket, now + window + GRANT_TURN_GRACE, bucket))
                return 0.0, int(grant_id) if grant_id is not None else None
            wait = _grant_wait(live, excess, window, now) if excess > 0 else GRANT_TURN_WAIT
            if ticket and (waiting == ticket or (not waiting and ticket != last)):
                await db.execute("UPDATE rate_buckets SET tokens = ?, updated_at = ? WHERE name = ?",
                                 (ticket, now + wait + GRANT_TURN_GRACE, bucket))
        return wait, None

    async def release_sends(self, grant_id: int, now: float) -> None:
        async with self.session(write=True) as db:
            await db.execute("UPDATE rate_grants SET released_at = ? WHERE id = ?", (now, grant_id))

    async def send_usage(self, bucket: str, window: float, now: float, lease: float) -> int | None:
        async with self.session() as db:
            rows = await db.fetch(
                "SELECT COALESCE(SUM(sends), 0) FROM rate_grants WHERE bucket = ? AND "
                "(released_at > ? OR (released_at IS NULL AND granted_at >= ?))",
                (bucket, now - window, now - lease),
            )
        return int(rows[0][0]) if rows else 0


# -- helpers ------------------------------------------------------------------------------------


#: Shortest wait :meth:`TortoiseStorage.grant_sends` returns.
GRANT_MIN_WAIT = 0.001
#: Wait of a caller refused only because another is next in line.
GRANT_TURN_WAIT = 0.02
#: How long past its wait the caller next in line keeps its place.
GRANT_TURN_GRACE = 1.0


def _grant_wait(live: Sequence[Sequence[Any]], excess: int, window: float, now: float) -> float:
    """Seconds until released grants free ``excess`` sends of the window."""
    freed = 0
    for sends, released_at in sorted((row for row in live if row[1] is not None), key=lambda row: float(row[1])):
        freed += int(sends)
        if freed >= excess:
            return max(GRANT_MIN_WAIT, float(released_at) + window - now)
    # Sends still in flight count until a window after they end: not before a window from now.
    return window


def _reset_aerich() -> None:
    """Forget what an earlier aerich run in this process left on its ``Migrate`` class (aerich
    expects one run per process: pending operators would leak into the next diff)."""
    from aerich.migrate import Migrate

    for name in ("upgrade_operators", "downgrade_operators", "_upgrade_fk_m2m_index_operators",
                 "_downgrade_fk_m2m_index_operators", "_upgrade_m2m", "_downgrade_m2m"):
        setattr(Migrate, name, [])
    Migrate._rename_fields = {}
    Migrate._rename_models = {}
    Migrate._last_version_content = None
    Migrate._db_version = None


async def _applied_migrations(app: str = APP) -> list[str]:
    """Versions aerich recorded as applied for ``app`` (in aerich's current context); [] on a
    fresh database."""
    from aerich.models import Aerich

    try:
        return list(await Aerich.filter(app=app).order_by("id").values_list("version", flat=True))
    except OperationalError:
        return []


def search_column(node: Filter | None) -> str | None:
    """The indexed column (``recipient_key`` or ``message_id``) that ``node`` requires equal to
    one value, if any: a recipient or message-id term alone or among the parts of an ``AND``."""
    if isinstance(node, Term):
        return SEARCH_COLUMNS.get(node.field)
    if isinstance(node, And):
        return next((c for c in map(search_column, node.parts) if c is not None), None)
    return None


def filter_sql(node: Filter, *, exact: str = "") -> tuple[str, list[Any]]:
    """Translate an events filter tree to a SQL condition (never NULL) and its arguments.
    Recipients compare by :func:`~postgate.addresses.address_key` with the stored
    ``recipient_key``; ``exact`` is the dialect's binary collation clause. An exact recipient or
    message-id term is an equality on its column, so the page can read that column's index."""
    if isinstance(node, Term):
        value = node.value
        if node.field == "tags":
            return "tags_search LIKE ? ESCAPE '!'", [f"%|{like_escape(value.lower())}|%"]
        if node.field == "recipient":
            return f"(recipient_key IS NOT NULL AND recipient_key = ?{exact})", [address_key(value)]
        column = FILTER_COLUMNS.get(node.field)
        if column is None:
            raise ValueError(f"cannot filter events by {node.field!r}")
        return f"({column} IS NOT NULL AND {column} = ?)", [value]
    if isinstance(node, Not):
        clause, args = filter_sql(node.part, exact=exact)
        return f"NOT {clause}", args
    if isinstance(node, And | Or):
        if not node.parts:
            return ("1 = 1" if isinstance(node, And) else "1 = 0"), []
        joiner = " AND " if isinstance(node, And) else " OR "
        clauses, args = [], []
        for part in node.parts:
            clause, part_args = filter_sql(part, exact=exact)
            clauses.append(clause)
            args.extend(part_args)
        return f"({joiner.join(clauses)})", args
    raise ValueError(f"not an events filter: {node!r}")


def _case(column: str, ids: Sequence[int], values: Sequence[Any], keep_null: bool) -> tuple[str, list[Any]]:
    """``column``'s new value per id: one value if all agree, else ``CASE id WHEN … END``.
    ``keep_null``: ``None`` keeps the stored value."""
    if all(v == values[0] for v in values):
        expr, args = "?", [values[0]]
    else:
        expr = "CASE id " + " ".join(["WHEN ? THEN ?"] * len(ids)) + " END"
        args = [x for pair in zip(ids, values, strict=True) for x in pair]
    if keep_null:
        expr = f"COALESCE({expr}, {column})"
    return expr, args


def _range(where: str, args: list[Any], first_id: int | None, last_id: int | None) -> tuple[str, list[Any]]:
    if first_id is not None:
        where += " AND id >= ?"
        args = [*args, first_id]
    if last_id is not None:
        where += " AND id <= ?"
        args = [*args, last_id]
    return where, args


def _ceil_second(micros: int) -> int:
    """The first whole second (epoch seconds) at or after ``micros`` microseconds."""
    return -(-micros // SECOND)


def _reason(payload: Mapping[str, Any]) -> str | None:
    reason = payload.get("reason")
    return str(reason) if reason is not None else None


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _is_row_id(text: str) -> bool:
    """Whether ``text`` is a decimal id a BIGINT column can hold."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def _dead_job(row: Sequence[Any]) -> DeadJob:
    row_id, batch_id, first_id, last_id, available_at, attempts, failures, error, dead_at = row
    job = Job(batch_id=int(batch_id), first_id=_int(first_id), last_id=_int(last_id), id=str(row_id),
              attempts=int(attempts), failures=int(failures))
    return DeadJob(id=str(row_id), job=job, failures=int(failures), reason=error or "",
                   dead_at=float(dead_at))


def _job_id(job: Job) -> int:
    if job.id is None:
        raise ValueError("the job was never leased from the local queue")
    return int(job.id)


def _batch(row: Sequence[Any]) -> Batch:
    (row_id, domain, message_id, response_id, email_id, tags, content, testmode, deliver_at,
     created_at, enqueued, accepted_logged, recipient_count) = row
    return Batch(
        id=int(row_id), domain=domain, message_id=message_id, response_id=response_id,
        email_id=email_id, tags=_json(tags), content=_inflate(content), testmode=bool(testmode),
        deliver_at=deliver_at, created_at=float(created_at), enqueued=bool(enqueued),
        accepted_logged=bool(accepted_logged), recipient_count=int(recipient_count),
    )


def _inflate(content: bytes) -> bytes:
    """A batch's stored content; a damaged blob is returned as it is, so the batch can still be
    read (its decoding fails in the worker, which then dead-letters the job)."""
    try:
        return zlib.decompress(content)
    except zlib.error:
        return bytes(content)


def _recipient(row: Sequence[Any]) -> Recipient:
    (row_id, batch_id, domain, address, name, message_id, variables, status, attempts,
     lease_owner, lease_until, next_attempt_at, provider_id, error) = row
    return Recipient(
        id=int(row_id), batch_id=int(batch_id), domain=domain, address=address, name=name,
        message_id=message_id, variables=_json(variables), status=RecipientStatus(status),
        attempts=int(attempts), lease_owner=lease_owner, lease_until=lease_until,
        next_attempt_at=next_attempt_at, provider_id=provider_id, error=error,
    )


def _stored_payload(event: Event) -> tuple[str, bool]:
    """An event's ``payload`` and ``payload_canonical`` columns (see postgate.event_json)."""
    text = canonical_payload(event.payload, event.event)
    return (json.dumps(event.payload), False) if text is None else (text, True)


def _event(row: Sequence[Any]) -> Event:
    (row_id, event_id, domain, recorded_at, event, recipient, message_id, email_id, tags,
     severity, key, payload) = row
    return Event(
        domain=domain, event=event, recipient=recipient, message_id=message_id,
        payload=_json(payload), key=key, email_id=email_id, tags=_json(tags), severity=severity,
        id=int(row_id), event_id=event_id, recorded_at=int(recorded_at),
    )


def _suppression(row: Sequence[Any]) -> Suppression:
    domain, list_name, address, code, error, tags, kind, reason, created_at = row[:9]
    return Suppression(
        domain=domain, list=list_name, address=address, code=_int(code), error=error or "",
        tags=_json(tags), kind=kind, reason=reason or "", created_at=float(created_at),
    )


def _tag(row: Sequence[Any]) -> TagInfo:
    domain, tag, description, first_seen, last_seen = row
    return TagInfo(domain=domain, tag=tag, description=description or "",
                   first_seen=float(first_seen), last_seen=float(last_seen))
