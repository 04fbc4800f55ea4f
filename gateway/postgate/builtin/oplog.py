"""Operational log lines (logger ``postgate.ops``): a batch accepted, a chunk sent, a permanent
failure, a provider throttling or pausing. Fields go as ``extra=`` (docs/logging.md lists them).

No address is logged in full and no body at all: a failure names its recipient by ledger id, and
an address inside a provider's reason keeps only the first character of its local part.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from ..batching import envelope_entries
from ..domain import ChunkReport, Message
from ..hookspecs import hookimpl

log = logging.getLogger("postgate.ops")

#: Ledger statuses a chunk can give its rows; each is a field of the ``chunk sent`` line.
CHUNK_OUTCOMES = ("delivered", "sent", "retry", "failed", "suppressed")
STATE_LEVELS = {"throttled": logging.WARNING, "paused": logging.ERROR, "resumed": logging.INFO}
ADDRESS = re.compile(r"([^\s<>()\[\]@,;:\"']+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


def mask_addresses(text: str) -> str:
    """``text`` with each e-mail address cut to the first character of its local part and its
    domain (``jane.doe@example.com`` -> ``j***@example.com``)."""
    return ADDRESS.sub(lambda found: f"{found.group(1)[0]}***@{found.group(2)}", text)


@hookimpl
def message_accepted(message: Message, message_id: str) -> None:
    fields: dict[str, Any] = {"domain": message.domain, "recipients": len(envelope_entries(message)),
                              "message_id": message_id}
    if message.email_id:
        fields["email_id"] = message.email_id
    if message.testmode:
        fields["testmode"] = True
    log.info("batch accepted", extra=fields)


@hookimpl
def chunk_sent(report: ChunkReport) -> None:
    outcomes = {status: report.counts.get(status, 0) for status in CHUNK_OUTCOMES}
    log.info("chunk sent", extra={
        "batch_id": report.batch_id, "message_id": report.message_id, "domain": report.domain,
        "delivery": report.delivery, "recipients": report.recipients, **outcomes,
        "unsettled": report.unsettled, "duration_ms": round(report.seconds * 1000, 1)})
    for recipient_id, reason in report.failures:
        log.warning("permanent failure", extra={
            "batch_id": report.batch_id, "message_id": report.message_id, "domain": report.domain,
            "recipient_id": recipient_id, "reason": mask_addresses(reason)})


@hookimpl
def delivery_state_changed(delivery: str, state: str, reason: str, seconds: float | None) -> None:
    fields: dict[str, Any] = {"delivery": delivery, "state": state, "reason": mask_addresses(reason)}
    if seconds is not None:
        fields["seconds"] = seconds
    log.log(STATE_LEVELS.get(state, logging.WARNING), "delivery %s", state, extra=fields)
