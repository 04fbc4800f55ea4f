"""From recorded events to queued deliveries: one row per event and URL, in one INSERT."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from . import queue
from .models import Delivery
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
            targets = urls.get((event.domain.lower(), webhook_for(event.event, event.severity) or ""))
            if not targets:
                continue
            data = json.dumps(event.to_mailgun(), separators=(",", ":"))
            rows.extend(Delivery(domain=event.domain.lower(), webhook=webhook_for(event.event, event.severity),
                                 url=url, event_id=event.event_id or "", event_data=data, enqueued_at=now,
                                 next_at=now) for url in targets)
        if rows:
            await queue.enqueue(rows)
    if rows and state.dispatcher is not None:
        state.dispatcher.wake()
    return len(rows)
