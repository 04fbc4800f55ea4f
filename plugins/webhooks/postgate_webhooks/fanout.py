"""From recorded events to queued deliveries: one row per event and URL, in one statement."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from . import queue
from .names import webhook_for
from .state import webhooks_for


async def enqueue_events(gateway: Any, events: Sequence[Any]) -> int:
    """Queue a delivery for every URL of the webhook each event goes to; returns how many."""
    state = webhooks_for(gateway)
    now = time.time()
    with gateway.storage.orm():
        urls = await state.subscriptions.urls()
    if not urls:
        return 0
    rows = []
    for event in events:
        domain = event.domain.lower()
        webhook = webhook_for(event.event, event.severity)
        targets = urls.get((domain, webhook or ""))
        if not targets:
            continue
        data = json.dumps(event.to_mailgun(), separators=(",", ":"))
        rows.extend((domain, webhook, url, event.event_id or "", data, now, now) for url in targets)
    if not rows:
        return 0
    async with gateway.storage.session() as db:
        await queue.enqueue(db, rows)
    if state.dispatcher is not None:
        state.dispatcher.wake()
    return len(rows)
