"""Writing and reading the audit trail (inside the storage's ORM context)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .models import AuditEntry

#: Rows per INSERT when a CSV import reports a batch.
WRITE_BATCH = 500
#: Longest ``detail`` kept (the column's size).
MAX_DETAIL = 255


async def record(gateway: Any, changes: Sequence[Any]) -> None:
    """Store one row per change."""
    rows = [
        AuditEntry(at=c.at, action=c.action, domain=c.domain, list_name=c.list, address=c.address,
                   api_key=c.api_key, request_id=c.request_id, detail=c.detail[:MAX_DETAIL])
        for c in changes
    ]
    with gateway.storage.orm():
        await AuditEntry.bulk_create(rows, batch_size=WRITE_BATCH)


async def entries(gateway: Any, *, domain: str | None = None, address: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` rows, newest first, optionally for one domain or address."""
    with gateway.storage.orm():
        query = AuditEntry.all()
        if domain:
            query = query.filter(domain=domain.lower())
        if address:
            query = query.filter(address=address)
        rows = await query.order_by("-at", "-id").limit(limit)
    return [
        {"at": r.at, "action": r.action, "domain": r.domain, "list": r.list_name, "address": r.address,
         "api_key": r.api_key, "request_id": r.request_id, "detail": r.detail}
        for r in rows
    ]
