"""The ``smtp_dsn`` event source: asynchronous bounces (DSNs) read from an IMAP mailbox.

Every ``dsn_poll_seconds`` it logs in with aioimaplib (implicit TLS, certificate verified, unless
``dsn_imap_tls`` is off), selects ``dsn_imap_mailbox``, and takes the unseen messages one by one:
each is parsed by :func:`postgate_smtp.dsn.parse_dsn`, its failed or delayed recipients are
matched to ledger rows (:class:`DsnMatcher`), their ``failed`` events are stored through the
gateway's sink (so the built-in listener puts hard bounces on ``bounces``), and only then is the
message flagged ``\\Seen`` (or deleted, with ``dsn_delete_handled``). A message that is not a DSN, or
whose recipients match no row, is flagged too and logged, never read again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING

import aioimaplib

from postgate import EventBuilders, EventSource, Recipient
from postgate.domain import Event

from .dsn import DsnRecipient, parse_dsn, reason_of
from .relay_pool import tls_context

if TYPE_CHECKING:
    from postgate import EventSink, Gateway

    from .relay_settings import RelaySettings

log = logging.getLogger("postgate.smtp.dsn")

_UID = re.compile(rb"\bUID (\d+)")
IMAP_TIMEOUT = 60.0


class DsnMatcher:
    """Finds the ledger row of each DSN recipient and builds its ``failed`` event.

    By VERP first (``bounces+pg<batch>-<row>@…``: the row, if it belongs to that batch), else by
    the returned message's ``Message-ID`` (the smtp delivery records it as the row's provider id)
    together with the recipient's address. Two storage calls for a whole DSN, whatever its size.
    """

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.builders = EventBuilders(gateway)

    async def rows(self, found: Sequence[DsnRecipient]) -> list[tuple[DsnRecipient, Recipient]]:
        storage = self.gateway.storage
        by_id = {row.id: row for row in await storage.get_recipients(
            sorted({item.verp[1] for item in found if item.verp is not None}))}
        message_ids = sorted({item.original_message_id for item in found if item.original_message_id})
        by_message = await storage.find_recipients(message_ids) if message_ids else []
        matched = []
        for item in found:
            row = by_id.get(item.verp[1]) if item.verp is not None else None
            if row is not None and row.batch_id != item.verp[0]:  # type: ignore[index]
                row = None
            if row is None:
                row = next((r for r in by_message if r.provider_id == item.original_message_id
                            and r.address.strip().lower() == item.recipient.lower()), None)
            if row is not None:
                matched.append((item, row))
        return matched

    async def events(self, raw: bytes, found: Sequence[DsnRecipient]) -> list[Event]:
        """The ``failed`` events of one DSN, keyed so that reading it twice stores them once."""
        digest = hashlib.sha256(raw).hexdigest()[:32]
        out = []
        for item, row in await self.rows(found):
            builder = await self.builders.get(row.batch_id)
            if builder is None:
                continue
            event = builder.failed(row, permanent=item.permanent, code=item.code, message=item.diagnostic,
                                   enhanced_code=item.status, reason=reason_of(item), attempt=max(1, row.attempts),
                                   retry_seconds=None if item.permanent else 0, mx_host=item.remote_mta)
            event.key = f"dsn:{item.dsn_message_id or digest}:{row.id}:{'failed' if item.permanent else 'delayed'}"
            out.append(event)
        return out


class DsnEventSource(EventSource):
    """Bounces from ``[plugins.smtp] dsn_imap_host`` (see the module documentation)."""

    name = "smtp_dsn"

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway)
        self.settings: RelaySettings = gateway.plugin_settings("smtp")
        self.matcher = DsnMatcher(gateway)
        self.context: ssl.SSLContext | None = None
        self.password = ""
        self.handled = 0  # DSN messages taken from the mailbox since start

    async def start(self) -> None:
        settings = self.settings
        if not settings.dsn_imap_host or not settings.dsn_imap_username:
            raise RuntimeError("the smtp_dsn event source needs [plugins.smtp] dsn_imap_host and dsn_imap_username")
        if settings.dsn_imap_password_env:
            password = os.environ.get(settings.dsn_imap_password_env)
            if password is None:
                raise RuntimeError(f"[plugins.smtp] dsn_imap_password_env names {settings.dsn_imap_password_env!r}, "
                                   "which is not set in the environment")
            self.password = password
        if settings.dsn_imap_tls:
            self.context = await asyncio.to_thread(tls_context, True, settings.dsn_imap_ca_file)

    async def run(self, sink: EventSink) -> None:
        while True:
            try:
                await self.poll(sink)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the mailbox is read again at the next poll
                log.warning("reading DSNs from %s failed: %s: %s", self.settings.dsn_imap_host, type(exc).__name__, exc)
            await asyncio.sleep(self.settings.dsn_poll_seconds)

    def _client(self) -> aioimaplib.IMAP4:
        settings = self.settings
        host = settings.dsn_imap_host or ""
        if self.context is not None:
            return aioimaplib.IMAP4_SSL(host, settings.dsn_imap_port or 993, timeout=IMAP_TIMEOUT,
                                        ssl_context=self.context)
        return aioimaplib.IMAP4(host, settings.dsn_imap_port or 143, timeout=IMAP_TIMEOUT)

    async def poll(self, sink: EventSink) -> int:
        """One pass over the unseen messages; returns how many were handled."""
        client = self._client()
        await client.wait_hello_from_server()
        handled = 0
        try:
            _expect(await client.login(self.settings.dsn_imap_username or "", self.password), "LOGIN")
            _expect(await client.select(self.settings.dsn_imap_mailbox), "SELECT")
            found = _expect(await client.uid_search("UNSEEN"), "SEARCH")
            uids = [uid for line in found.lines[:1] for uid in line.split() if uid.isdigit()]
            for uid in uids:
                raw = _literal(_expect(await client.uid("fetch", uid.decode(), "(BODY.PEEK[])"), "FETCH").lines)
                if raw is not None:
                    await self._handle(uid.decode(), raw, sink)
                await self._done(client, uid.decode())
                handled += 1
            if handled and self.settings.dsn_delete_handled:
                await client.expunge()
        finally:
            try:
                await client.logout()
            except (aioimaplib.Abort, OSError, asyncio.TimeoutError):
                pass
        self.handled += handled
        return handled

    async def _handle(self, uid: str, raw: bytes, sink: EventSink) -> None:
        found = await asyncio.to_thread(parse_dsn, raw)
        if not found:
            log.info("mailbox message %s is not a DSN with a failed or delayed recipient; flagged and skipped", uid)
            return
        events = await self.matcher.events(raw, found)
        if len(events) < len(found):
            log.info("DSN %s: %d of %d recipient(s) match no ledger row", uid, len(found) - len(events), len(found))
        if events:
            await sink(events)

    async def _done(self, client: aioimaplib.IMAP4, uid: str) -> None:
        flag = r"(\Deleted \Seen)" if self.settings.dsn_delete_handled else r"(\Seen)"
        _expect(await client.uid("store", uid, "+FLAGS", flag), "STORE")


def _expect(response: aioimaplib.Response, command: str) -> aioimaplib.Response:
    if response.result != "OK":
        detail = b" ".join(bytes(line) for line in response.lines[-1:]).decode("utf-8", "replace")[:200]
        raise RuntimeError(f"IMAP {command} answered {response.result}: {detail}")
    return response


def _literal(lines: Sequence[bytes | bytearray]) -> bytes | None:
    """The message bytes of a one-message FETCH answer (aioimaplib hands literals as bytearrays)."""
    for line in lines:
        if isinstance(line, bytearray):
            return bytes(line)
    return None
