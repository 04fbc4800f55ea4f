"""The ledger side of dead-lettering a job and of re-driving it.

Giving up on a job (:func:`fail_unsent`): its rows still ``queued`` or ``retry`` become permanent
``failed`` with ledger error ``dead-letter: <reason>`` and get a Mailgun ``failed`` event (severity
``permanent``, reason ``generic``, code 550, the reason in ``delivery-status.message``), so Ghost
shows them. Rows ``sending`` are left alone: the mail may be out, so they get no ``failed`` event;
they are settled like any in-doubt row when the job is re-driven. Terminal rows are untouched.

Re-driving (:func:`reset_dead_lettered`): exactly the rows failed by a dead letter go back to
``queued`` (the operator asks to retry them); ``sent``, ``delivered``, ``suppressed`` and rows
that failed for any other reason stay as they are, so nobody is sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .codec import decode_message
from .domain import Batch, DeadJob, Event, Message, Recipient, RecipientStatus, RecipientUpdate
from .events import EventBuilder

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger("postgate.dead_letters")

#: Prefix of the ledger error of a row failed because its job was dead-lettered.
DEAD_LETTER_ERROR = "dead-letter: "
#: Ledger rows read per page.
PAGE = 500
#: The delivery-status code of a dead-lettered recipient's ``failed`` event.
DEAD_LETTER_CODE = 550


async def fail_unsent(gateway: Gateway, batch_id: int, first_id: int | None, last_id: int | None,
                      reason: str, *, public_url: str = "") -> tuple[int, int]:
    """Fail the job's rows that are not terminal and not in doubt; return ``(failed, in_doubt)``.

    Events are stored before the ledger changes and have deterministic keys, so a repeat after a
    crash stores nothing twice.
    """
    batch = await gateway.storage.get_batch(batch_id)
    if batch is None:
        return 0, 0
    events = await asyncio.to_thread(_event_builder, batch, public_url)
    failed = in_doubt = 0
    async for rows in _pages(gateway, batch_id, first_id, last_id):
        new_events: list[Event] = []
        updates: list[RecipientUpdate] = []
        for row in rows:
            if not batch.accepted_logged:
                new_events.append(events.accepted(row))
            if row.status is RecipientStatus.SENDING:
                in_doubt += 1
            elif row.status in (RecipientStatus.QUEUED, RecipientStatus.RETRY):
                attempt = row.attempts + 1
                new_events.append(events.failed(
                    row, permanent=True, code=DEAD_LETTER_CODE, reason="generic", attempt=attempt,
                    message=f"Postgate gave up on this message: {reason}",
                    description="The job was dead-lettered; an operator can retry it "
                                "(postgate jobs retry).",
                ))
                updates.append(RecipientUpdate(row.id, RecipientStatus.FAILED, attempts=attempt,
                                               error=DEAD_LETTER_ERROR + reason))
        if new_events:
            await gateway.record_events(new_events)
        if updates:
            await gateway.storage.update_recipients(updates)
        failed += len(updates)
    return failed, in_doubt


async def reset_dead_lettered(gateway: Gateway, dead: DeadJob) -> int:
    """Put the rows a dead letter failed back to ``queued``; return how many."""
    job = dead.job
    reset = 0
    async for rows in _pages(gateway, job.batch_id, job.first_id, job.last_id):
        updates = [
            RecipientUpdate(row.id, RecipientStatus.QUEUED, attempts=row.attempts)
            for row in rows
            if row.status is RecipientStatus.FAILED and (row.error or "").startswith(DEAD_LETTER_ERROR)
        ]
        if updates:
            await gateway.storage.update_recipients(updates)
        reset += len(updates)
    return reset


async def ledger_summary(gateway: Gateway, batch_id: int, first_id: int | None,
                         last_id: int | None) -> dict[str, int]:
    """How many of the job's rows are in each status (for ``postgate jobs show``)."""
    counts: dict[str, int] = {}
    async for rows in _pages(gateway, batch_id, first_id, last_id):
        for row in rows:
            counts[row.status.value] = counts.get(row.status.value, 0) + 1
    return counts


async def _pages(gateway: Gateway, batch_id: int, first_id: int | None,
                 last_id: int | None) -> AsyncIterator[list[Recipient]]:
    after = 0 if first_id is None else first_id - 1
    while True:
        rows = await gateway.storage.list_recipients(batch_id, after, PAGE)
        if not rows:
            return
        after = rows[-1].id
        if last_id is not None:
            rows = [row for row in rows if row.id <= last_id]
            if not rows:
                return
        yield rows


def _event_builder(batch: Batch, public_url: str) -> EventBuilder:
    """The batch's event builder; for content that cannot be read, one on a bare message (events
    then carry the recipient, ids and tags, without subject or sender)."""
    try:
        return EventBuilder(batch, decode_message(batch.content), public_url=public_url)
    except Exception as exc:  # noqa: BLE001 - the reason this batch is being given up on
        log.debug("batch %s: events without its content (%r)", batch.id, exc)
    bare = Message(domain=batch.domain, sender="", to=[], recipient_variables={})
    return EventBuilder(batch, bare, public_url=public_url)
