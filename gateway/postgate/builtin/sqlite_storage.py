"""Built-in plugin: the ``sqlite`` storage, one SQLite file (WAL mode) in the data folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from postgate.hookspecs import Register, hookimpl
from postgate.storage.tortoise_storage import TortoiseStorage

if TYPE_CHECKING:
    from postgate.app import Gateway

#: The aerich history of the SQLite schema (files live in its ``models/`` folder).
MIGRATIONS = Path(__file__).resolve().parent.parent / "storage" / "migrations" / "sqlite"


class SqliteSettings(BaseModel):
    """``[plugins.sqlite]``: where the database file lives and how SQLite waits and syncs."""

    model_config = ConfigDict(extra="forbid")

    path: Path | None = Field(None, description="database file; default: <data_dir>/postgate.sqlite3")
    busy_timeout_ms: int = Field(10_000, ge=0, description="how long a writer waits for the write lock")
    synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        "NORMAL", description="PRAGMA synchronous (NORMAL is durable across app crashes in WAL mode)"
    )


def sqlite_storage(path: Path, settings: SqliteSettings | None = None,
                   gateway: Gateway | None = None) -> TortoiseStorage:
    """A SQLite storage on ``path`` (the parent folder is created)."""
    settings = settings or SqliteSettings()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = TortoiseStorage(
        gateway,
        db_url=f"sqlite://{path}",
        dialect="sqlite",
        migrations=MIGRATIONS,
        options={
            "file_path": str(path),
            "journal_mode": "WAL",
            "busy_timeout": settings.busy_timeout_ms,
            "synchronous": settings.synchronous,
        },
    )
    storage.name = "sqlite"
    return storage


def factory(gateway: Gateway) -> TortoiseStorage:
    settings: SqliteSettings = gateway.plugin_settings("sqlite")
    path = settings.path or gateway.settings.data_dir / "postgate.sqlite3"
    return sqlite_storage(path, settings, gateway)


@hookimpl(trylast=True)
def register_storages(register: Register) -> None:
    register("sqlite", factory)


@hookimpl(trylast=True)
def register_settings(register: Register) -> None:
    register("sqlite", SqliteSettings)
