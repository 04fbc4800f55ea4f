"""Built-in plugin: the ``outbox`` delivery backend.

Writes each rendered message as ``<folder>/<domain>/<recipient id>.eml`` (once per recipient: a
file that exists is never rewritten; each is written to a temporary name and renamed into place)
and produces realistic outcomes for addresses of the simulator domain, after SES's mailbox
simulator (``[plugins.outbox] simulator_domain``, default ``simulator.amazonses.com``). The local
part, with any ``+label`` removed, picks the outcome:

=================  ==================================================================
``success``        delivered
``bounce``         permanent failure 550 5.1.1, reason ``bounce`` (a hard bounce)
``complaint``      delivered, then a ``complained`` event
``suppressionlist`` permanent failure 605 ``suppress-bounce``: SES's account suppression
                   list, where SES never tries the address
``ooto``           delivered (SES's out-of-office reply is not simulated)
``tempfail``       Postgate's own: the first attempt fails temporarily (451 4.3.0), later
                   attempts are delivered
anything else      delivered
=================  ==================================================================

Every other domain is delivered. A row left in doubt by a crash is settled from the folder: an
``.eml`` on disk means the message went out (its outcome is simulated again); without one it was
never written and may be sent again. Temporary files are named after the writing process
(``.<id>.eml.<pid>.<random>.tmp``); those of processes that no longer run (a killed worker) are
removed when the backend starts. A full disk fails the send call with one clear log line; its
rows are retried by the ledger.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..backends import Delivery
from ..domain import DeliveryResult, Recipient, RenderedMessage
from ..hookspecs import hookimpl

SES_SIMULATOR = "simulator.amazonses.com"
#: ``.<name>.<pid>.<hex>.tmp``, or the older ``.<name>.<hex>.tmp`` without the writer's pid.
TEMPORARY = re.compile(r"^\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?[0-9a-f]{32}\.tmp$")

log = logging.getLogger("postgate.outbox")


class OutboxSettings(BaseModel):
    """``[plugins.outbox]``."""

    model_config = ConfigDict(extra="forbid")

    folder: Path | None = Field(None, description="where .eml files go (default: <data_dir>/outbox)")
    simulator_domain: str = Field(SES_SIMULATOR, description="addresses here behave like SES's simulator")
    concurrency: int = Field(4, ge=1, description="send calls a worker may have in flight")


def simulate(address: str, simulator_domain: str, *, first_attempt: bool) -> DeliveryResult:
    """The outcome the simulator gives ``address`` (``recipient_id`` is left 0)."""
    local, _, domain = address.rpartition("@")
    if domain.lower() != simulator_domain.lower():
        return DeliveryResult(0, "delivered", message="OK")
    kind = local.split("+", 1)[0].lower()
    if kind == "bounce":
        return DeliveryResult(0, "failed", permanent=True, code=550, enhanced_code="5.1.1",
                              message="5.1.1 The email account that you tried to reach does not exist.",
                              reason="bounce")
    if kind == "suppressionlist":
        return DeliveryResult(0, "failed", permanent=True, code=605, enhanced_code="5.1.1",
                              message="Address is on the account-level suppression list",
                              reason="suppress-bounce")
    if kind == "complaint":
        return DeliveryResult(0, "delivered", message="OK", followups=("complained",))
    if kind == "tempfail" and first_attempt:
        return DeliveryResult(0, "failed", permanent=False, code=451, enhanced_code="4.3.0",
                              message="4.3.0 Temporary failure, try again later (outbox simulator)",
                              reason="generic")
    return DeliveryResult(0, "delivered", message="OK")


class Outbox(Delivery):
    """Delivery into a folder of ``.eml`` files, with the simulator's outcomes."""

    name = "outbox"
    resend_in_doubt = True

    def __init__(self, gateway) -> None:
        super().__init__(gateway)
        settings: OutboxSettings = gateway.plugin_settings("outbox")
        self.folder = Path(settings.folder or Path(gateway.settings.data_dir) / "outbox")
        self.simulator_domain = settings.simulator_domain
        self.concurrency = settings.concurrency

    def path(self, domain: str, recipient_id: int) -> Path:
        return self.folder / domain.lower() / f"{recipient_id}.eml"

    async def start(self) -> None:
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        removed = await asyncio.to_thread(remove_orphans, self.folder)
        if removed:
            log.warning("outbox %s: removed %d half-written temporary file(s) left by a stopped process",
                        self.folder, removed)

    async def check(self) -> None:
        if not await asyncio.to_thread(os.access, self.folder, os.W_OK):
            raise RuntimeError(f"outbox folder {self.folder} is not writable")

    async def send(self, messages: Sequence[RenderedMessage]) -> list[DeliveryResult]:
        try:
            return await asyncio.to_thread(self._send_all, list(messages))
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                log.error("outbox %s: disk full (%s); %d message(s) not written, retried later", self.folder,
                          exc.strerror, len(messages))
            raise

    def _send_all(self, messages: list[RenderedMessage]) -> list[DeliveryResult]:
        results = []
        made: set[Path] = set()
        for rendered in messages:
            path = self.path(rendered.domain, rendered.recipient_id)
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            marker = path.with_suffix(".tempfail")
            first = not path.exists() and not marker.exists()
            result = simulate(rendered.recipient, self.simulator_domain, first_attempt=first)
            if result.outcome == "failed" and not result.permanent:
                marker.touch()
            elif not path.exists():
                tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
                try:
                    tmp.write_bytes(rendered.raw)
                    os.replace(tmp, path)
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
            else:
                log.warning("outbox: recipient %s (%s) was sent again; %s exists and is kept (a provider "
                            "would have delivered it twice)", rendered.recipient_id, rendered.recipient, path.name)
            result.recipient_id = rendered.recipient_id
            result.provider_id = f"outbox:{rendered.domain.lower()}/{path.name}"
            results.append(result)
        return results

    async def settle(self, recipients: Sequence[Recipient]) -> dict[int, DeliveryResult]:
        return await asyncio.to_thread(self._settle_all, list(recipients))

    def _settle_all(self, recipients: list[Recipient]) -> dict[int, DeliveryResult]:
        settled = {}
        for row in recipients:
            path = self.path(row.domain, row.id)
            if path.exists():
                result = simulate(row.address, self.simulator_domain, first_attempt=False)
                result.recipient_id = row.id
                result.provider_id = f"outbox:{row.domain.lower()}/{path.name}"
                settled[row.id] = result
        return settled


def remove_orphans(folder: Path) -> int:
    """Delete temporary files whose writing process is gone (blocking); return how many."""
    removed = 0
    for path in folder.glob("*/.*.tmp"):
        match = TEMPORARY.match(path.name)
        if match is None or not _orphaned(match.group("pid"), path):
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed


def _orphaned(pid: str | None, path: Path) -> bool:
    if pid is None:  # no writer named: only if it is old enough that no write can still be going on
        try:
            return path.stat().st_mtime < time.time() - 600
        except FileNotFoundError:
            return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


@hookimpl(trylast=True)
def register_deliveries(register):
    register("outbox", Outbox)


@hookimpl(trylast=True)
def register_settings(register):
    register("outbox", OutboxSettings)
