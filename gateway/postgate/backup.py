"""``postgate backup``: a consistent copy of the SQLite storage while Postgate keeps running.

SQLite's online backup API copies the database page by page; a write that lands during the copy
makes it restart from the live state, so the copy is always one consistent moment. The copy is
written next to the destination and renamed into place only once it passed ``PRAGMA
integrity_check``, so a failed backup never leaves a half-written file under the given name.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from pydantic import ValidationError

from .builtin.sqlite_storage import SqliteSettings
from .settings import ConfigError, Settings

#: Pages copied per step; between steps the gateway's writers get the database back.
PAGES_PER_STEP = 1024


def sqlite_path(settings: Settings) -> Path:
    """The SQLite database file ``settings`` use (``[plugins.sqlite] path`` or the default)."""
    try:
        table = SqliteSettings.model_validate(settings.plugins.get("sqlite", {}))
    except ValidationError as exc:
        raise ConfigError(f"[plugins.sqlite]: {exc.errors()[0]['msg']}") from None
    return table.path or settings.data_dir / "postgate.sqlite3"


def backup_sqlite(source: Path, destination: Path) -> int:
    """Copy ``source`` to ``destination`` with the online backup API; returns the page count."""
    if not source.is_file():
        raise ConfigError(f"no SQLite database at {source}: run `postgate migrate` first, or check data_dir")
    if destination.exists():
        raise ConfigError(f"{destination} exists already: give a new file name")
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    live = sqlite3.connect(source)
    try:
        copy = sqlite3.connect(partial)
        try:
            live.backup(copy, pages=PAGES_PER_STEP)
            [(verdict,)] = copy.execute("PRAGMA integrity_check").fetchall()
            if verdict != "ok":
                raise ConfigError(f"the copy failed its integrity check: {verdict}")
            pages = copy.execute("PRAGMA page_count").fetchone()[0]
        finally:
            copy.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        live.close()
    os.replace(partial, destination)
    return int(pages)
