"""``postgate makemigrations``: write a plugin app's next aerich migration for every dialect.

aerich runs offline here: the previous state comes from the newest migration file's
``MODELS_STATE``, so no database is needed (a MySQL driver is loaded for its DDL, never
connected). The first run writes ``0_<time>_init.py``; later runs write the difference between
the models and the newest file, or nothing when they agree.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..model_apps import DIALECTS, ModelApp
from .tortoise_storage import _reset_aerich

#: Connection URLs that give aerich each dialect's DDL; nothing connects to them offline.
OFFLINE_URLS = {
    "sqlite": "sqlite://{folder}/offline.sqlite3",
    "mysql": "mysql://offline:@127.0.0.1:3306/offline",
}


def offline_config(app: ModelApp, dialect: str, folder: str) -> dict:
    """A tortoise config holding only ``app`` (so no core table enters its history)."""
    from tortoise.backends.base.config_generator import expand_db_url

    name = f"postgate_{dialect}"
    return {
        "connections": {name: expand_db_url(OFFLINE_URLS[dialect].format(folder=folder))},
        "apps": {app.label: {"models": [app.models], "default_connection": name}},
    }


async def make_migrations(app: ModelApp, name: str = "update",
                          dialects: Sequence[str] = DIALECTS) -> list[Path]:
    """Write ``app``'s next migration for each dialect; return the files written."""
    written: list[Path] = []
    for dialect in dialects:
        work = _make_one(app, dialect, name)
        path = await asyncio.get_running_loop().create_task(work, context=contextvars.Context())
        if path is not None:
            written.append(path)
    return written


async def _make_one(app: ModelApp, dialect: str, name: str) -> Path | None:
    from aerich import Command

    # aerich asks which MySQL syntax renames columns; 8.0's is MariaDB 10.5+'s too.
    os.environ.setdefault("AERICH_MYSQL_VERSION", "8.0")
    app.history(dialect).mkdir(parents=True, exist_ok=True)
    _reset_aerich()
    with tempfile.TemporaryDirectory() as folder:
        command = Command(tortoise_config=offline_config(app, dialect, folder), app=app.label,
                          location=str(app.migrations / dialect))
        try:
            if not app.versions(dialect):
                await command.init_migrations(safe=True)
                return app.history(dialect) / app.versions(dialect)[0]
            await command.init(offline=True)
            version = await command.migrate(name=name, no_input=True, offline=True)
        finally:
            await command.aclose()
    return app.history(dialect) / version if version else None
