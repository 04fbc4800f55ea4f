"""An example plugin that owns a table (``register_models``), for tests of plugin apps.

Its history has two migrations per dialect (the table, then a column), so tests can apply the
first alone and watch the second upgrade it. ``add_note``/``notes`` use the models through
``gateway.storage.orm()``, the way a real plugin does.
"""

from __future__ import annotations

import time

from postgate import hookimpl

LABEL = "notes"
MODELS = "postgate.testing.notes_app.models"
MIGRATIONS = "postgate.testing.notes_app.migrations"


@hookimpl
def register_models(register) -> None:
    register(LABEL, MODELS, MIGRATIONS)


async def add_note(gateway, body: str, author: str = "") -> int:
    from .models import Note

    with gateway.storage.orm():
        note = await Note.create(body=body, author=author, created_at=time.time())
    return int(note.id)


async def notes(gateway) -> list[tuple[str, str]]:
    from .models import Note

    with gateway.storage.orm():
        return [(n.body, n.author) for n in await Note.all().order_by("id")]
