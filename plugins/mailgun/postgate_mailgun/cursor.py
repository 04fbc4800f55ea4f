"""Reading and moving the event source's position (inside the storage's ORM context)."""

from __future__ import annotations

import time
from typing import Any

from .models import EventCursor


async def load(gateway: Any, domain: str) -> str | None:
    with gateway.storage.orm():
        row = await EventCursor.get_or_none(domain=domain)
    return row.next_path if row is not None else None


async def save(gateway: Any, domain: str, next_path: str) -> None:
    with gateway.storage.orm():
        await EventCursor.update_or_create(defaults={"next_path": next_path, "updated_at": time.time()},
                                           domain=domain)
