"""The ``smtp`` delivery backend: each recipient's message through one SMTP relay, with aiosmtplib.

One envelope per recipient (MAIL FROM the batch's sender, or its VERP return path; RCPT TO the
one recipient; DATA the message Postgate rendered for them) over connections the
:class:`~postgate_smtp.relay_pool.RelayPool` keeps open and reuses. Outcomes are mapped by
:mod:`postgate_smtp.relay_outcomes`.

Each send call runs up to ``relay_connections`` *lanes*; a lane holds one connection slot and
sends the call's messages one after another over it, with no RSET between clean transactions.

Crash safety. The row is marked dispatched (``sink.dispatching``) shortly before its transaction
(a lane holding a connection marks the next ``relay_mark_ahead`` messages while the current one
is on the wire, so that the mark's ledger write overlaps the relay's answers), the mark is stored
before the ``DATA`` command, and its result is recorded as soon as the reply to the message's
final ``.`` arrives (in a task of its own: the lane goes on with the next message meanwhile). A crash in between leaves the row *in doubt*: the relay may
have queued the message, and no SMTP server can be asked afterwards whether it did, so
:meth:`SmtpDelivery.settle` answers ``unknown`` at once and ``gateway.in_doubt`` decides
(``hold``, the default: recorded as ``sent``, never sent twice). ``resend_in_doubt`` is off.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import aiosmtplib
from aiosmtplib.response import SMTPResponse

from postgate import Delivery, DeliveryResult, OutcomeSink, Recipient, RenderedMessage

from . import pipelining
from . import relay_outcomes as outcomes
from .envelope import EnvelopeAddress, UnusableAddress, envelope_address, verp_address
from .lanes import Call, Lane, Lanes, Outgoing
from .relay_pool import RelayConnection, RelayPool, tls_context

if TYPE_CHECKING:
    from postgate import Gateway

    from .relay_settings import RelaySettings

log = logging.getLogger("postgate.smtp.relay")

def data_payload(raw: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, leading dots doubled, ``.`` line at the end."""
    body = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in raw else raw
    body = body.replace(b"\n", b"\r\n")
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    if body.startswith(b"."):
        body = b"." + body
    return body.replace(b"\n.", b"\n..") + b".\r\n"


def envelope_commands(sender: EnvelopeAddress, recipient: EnvelopeAddress, options: Sequence[str],
                      encoding: str) -> tuple[bytes, bytes]:
    """``MAIL FROM:<…> options`` and ``RCPT TO:<…>``: the addresses as :func:`envelope_address`
    checked them (no space, bracket or control character can end or split the line)."""
    mail = b"MAIL FROM:<" + sender.address.encode(encoding) + b">"
    if options:
        mail += b" " + " ".join(options).encode("ascii")
    return mail, b"RCPT TO:<" + recipient.address.encode(encoding) + b">"


def connection_trouble(exc: BaseException) -> outcomes.ConnectionTrouble:
    """What kind of failure opening a connection was."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return "auth"
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "STARTTLS" in str(seen).upper():
            return "tls"
        seen = seen.__cause__ or seen.__context__
    return "unreachable"


class _Refused(Exception):
    """A 4xx/5xx reply to MAIL, RCPT or DATA (the transaction must be reset)."""

    def __init__(self, stage: outcomes.Stage, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.stage, self.code, self.text = stage, code, text


class SmtpDelivery(Delivery):
    """Delivery through ``[plugins.smtp] relay_host`` (see the module documentation)."""

    name = "smtp"
    resend_in_doubt = False

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway)
        self.settings: RelaySettings = gateway.plugin_settings("smtp")
        # More send calls than connections, so the pool always has the next message waiting.
        self.concurrency = 2 * self.settings.relay_connections
        self.max_rate = self.settings.relay_max_rate
        self.pool: RelayPool | None = None
        self.lanes: Lanes | None = None
        self.last_trouble: tuple[float, str] | None = None  # when and why the last connection failed

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        if not settings.relay_host:
            raise RuntimeError("the smtp delivery needs [plugins.smtp] relay_host")
        password = None
        if settings.relay_password_env:
            password = os.environ.get(settings.relay_password_env)
            if password is None:
                raise RuntimeError(f"[plugins.smtp] relay_password_env names {settings.relay_password_env!r}, "
                                   "which is not set in the environment")
        context = None
        if settings.relay_tls != "none":
            context = await asyncio.to_thread(tls_context, settings.relay_verify_certificate, settings.relay_ca_file)
        elif settings.relay_username:
            log.warning("smtp delivery: AUTH to %s without TLS sends the password in clear", settings.relay_host)
        self.pool = RelayPool(settings, context, password)
        self.lanes = Lanes(settings.relay_connections, settings.relay_mark_ahead, self.pool.slot, self._on_lane,
                           self._release)

    async def stop(self) -> None:
        if self.lanes is not None:
            await self.lanes.stop()
        if self.pool is not None:
            await self.pool.close()
        self.pool = self.lanes = None

    def _release(self, lane: Lane) -> None:
        if self.pool is not None and lane.connection is not None:
            self.pool.give_back(lane.connection)
        lane.connection = None

    async def check(self) -> None:
        """Raise while the last connection attempt to the relay failed (within a minute)."""
        trouble = self.last_trouble
        if trouble is not None and time.monotonic() - trouble[0] < 60:
            raise RuntimeError(f"cannot reach the SMTP relay {self.settings.relay_host}: {trouble[1]}")

    # -- sending --------------------------------------------------------------------------------

    async def send(self, messages: Sequence[RenderedMessage]) -> list[DeliveryResult]:
        collected = _Collected()
        await self.send_each(messages, collected)
        order = {message.recipient_id: index for index, message in enumerate(messages)}
        return sorted(collected.results, key=lambda result: order[result.recipient_id])

    async def send_each(self, messages: Sequence[RenderedMessage], sink: OutcomeSink) -> None:
        """The messages go to the lanes' queue (:mod:`postgate_smtp.lanes`); each result goes to
        ``sink`` as soon as its reply is in."""
        if self.lanes is None:
            raise RuntimeError("the smtp delivery backend is not started")
        call = Call(sink, len(messages))
        items = []
        for message in messages:
            try:
                sender, recipient = self.envelope(message)
            except UnusableAddress as exc:
                call.record(outcomes.not_sendable(message.recipient_id, f"not sent: {exc}"))
                call.done_one()
            else:
                items.append(Outgoing(message, sender, recipient, call))
        await self.lanes.run(items, call)

    def envelope(self, message: RenderedMessage) -> tuple[EnvelopeAddress, EnvelopeAddress]:
        """``(MAIL FROM, RCPT TO)`` of one message; raises :class:`UnusableAddress`."""
        sender = message.envelope_from
        if self.settings.relay_verp_address:
            sender = verp_address(self.settings.relay_verp_address, message.batch_id, message.recipient_id)
        return envelope_address(sender), envelope_address(message.recipient)

    async def _on_lane(self, lane: Lane, item: Outgoing) -> DeliveryResult | None:
        """One transaction on the lane's connection (opened or taken from the pool first); once
        more on a new one if a reused connection turns out closed by the relay before anything
        of the message was sent."""
        assert self.pool is not None
        rid = item.message.recipient_id
        for fresh_try in (False, True):
            if lane.connection is None:
                connection = self.pool.take_idle()
                lane.opened = connection is None
                if connection is None:
                    try:
                        connection = await self.pool.open()
                    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
                        text = (f"cannot open a connection to {self.pool.host}:{self.pool.port}: "
                                f"{type(exc).__name__}: {exc}")
                        self.last_trouble = (time.monotonic(), text)
                        log.warning("smtp delivery: %s", text)
                        return outcomes.temporary(rid, connection_trouble(exc), text)
                    self.last_trouble = None
                lane.connection = connection
            connection = lane.connection
            try:
                return await self._transaction(connection, item.sender, item.recipient, item.message, item.mark)
            except _Stale:
                connection.broken = True
                if not lane.opened and not fresh_try:
                    continue
                return outcomes.temporary(rid, "lost", "connection lost before the message was sent")
            finally:
                lane.opened = False
                if self.pool.spent(connection):
                    self.pool.give_back(connection)  # closes it
                    lane.connection = None
        return None  # not reached: the second try always returns

    async def _transaction(self, connection: RelayConnection, sender: EnvelopeAddress, recipient: EnvelopeAddress,
                           message: RenderedMessage, mark: asyncio.Future[Sequence[int]] | None,
                           ) -> DeliveryResult | None:
        rid = message.recipient_id
        smtp = connection.smtp
        utf8 = sender.utf8 or recipient.utf8
        if utf8 and not connection.utf8:
            return outcomes.not_sendable(rid, "not sent: the address needs SMTPUTF8, which the relay does not offer",
                                         "5.6.7")
        options = ["SMTPUTF8"] if utf8 else []
        if smtp.supports_extension("size"):
            options.append(f"SIZE={len(message.raw)}")
        if smtp.supports_extension("8bitmime") and not message.raw.isascii():
            options.append("BODY=8BITMIME")
        encoding = "utf-8" if utf8 else "ascii"
        try:
            if connection.pipelined:
                cleared = await self._envelope_pipelined(connection, rid, sender, recipient, options, encoding, mark)
            else:
                cleared = await self._envelope_in_turn(connection, rid, sender, recipient, options, encoding, mark)
        except _Refused as refused:
            await self._reset(connection)
            return outcomes.refused(rid, refused.stage, refused.code, refused.text)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            connection.broken = True
            return outcomes.temporary(rid, "lost", f"connection lost before the message was sent: {exc}")
        if not cleared:
            await self._reset(connection)
            return None  # the lease went to another worker: not ours to send
        return await self._content(connection, message)

    async def _envelope_in_turn(self, connection: RelayConnection, rid: int, sender: EnvelopeAddress,
                                recipient: EnvelopeAddress, options: list[str], encoding: str,
                                mark: asyncio.Future[Sequence[int]] | None) -> bool:
        """MAIL, RCPT and (once the mark is stored) DATA, each waiting for its reply; ``False``:
        the row is not ours any more (nothing was sent after RCPT)."""
        smtp = connection.smtp
        mail, rcpt = envelope_commands(sender, recipient, options, encoding)
        try:
            reply = await smtp.execute_command(mail)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError):
            raise _Stale from None
        if reply.code != 250:
            raise _Refused("mail", reply.code, reply.message)
        reply = await smtp.execute_command(rcpt)
        if reply.code not in (250, 251):
            raise _Refused("rcpt", reply.code, reply.message)
        if mark is not None and rid not in await asyncio.shield(mark):
            return False
        started = await smtp.execute_command(b"DATA")
        if started.code != 354:
            raise _Refused("data", started.code, started.message)
        return True

    async def _envelope_pipelined(self, connection: RelayConnection, rid: int, sender: EnvelopeAddress,
                                  recipient: EnvelopeAddress, options: list[str], encoding: str,
                                  mark: asyncio.Future[Sequence[int]] | None) -> bool:
        """MAIL, RCPT and DATA in one write (RFC 2920) when the row's mark is already stored;
        else MAIL and RCPT together, then DATA once the mark is stored."""
        smtp = connection.smtp
        mail, rcpt = envelope_commands(sender, recipient, options, encoding)
        with_data = mark is None or mark.done()
        if with_data and mark is not None and rid not in mark.result():
            return False
        try:
            replies = await pipelining.send_group(smtp, [mail, rcpt, *([b"DATA"] if with_data else [])],
                                                  self.settings.relay_timeout)
        except (aiosmtplib.SMTPServerDisconnected, OSError):
            raise _Stale from None
        if replies[0].code != 250:
            await self._end_stray_data(connection, replies)
            raise _Refused("mail", replies[0].code, replies[0].message)
        if replies[1].code not in (250, 251):
            await self._end_stray_data(connection, replies)
            raise _Refused("rcpt", replies[1].code, replies[1].message)
        if not with_data:
            assert mark is not None
            if rid not in await asyncio.shield(mark):
                return False
            replies.append(await smtp.execute_command(b"DATA"))
        if replies[2].code != 354:
            raise _Refused("data", replies[2].code, replies[2].message)
        return True

    async def _end_stray_data(self, connection: RelayConnection, replies: list[SMTPResponse]) -> None:
        """A relay that said 354 to a pipelined DATA after refusing the envelope gets an empty
        message (which it cannot deliver: it has no recipient)."""
        if len(replies) > 2 and replies[2].code == 354 and connection.smtp.protocol is not None:
            connection.smtp.protocol.write(b".\r\n")
            await connection.smtp.protocol.read_response(timeout=self.settings.relay_timeout)

    async def _content(self, connection: RelayConnection, message: RenderedMessage) -> DeliveryResult:
        """Write the message and read the relay's verdict; from the first byte on, a lost answer
        leaves the message in doubt."""
        rid = message.recipient_id
        protocol = connection.smtp.protocol
        try:
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("connection lost")
            protocol.write(data_payload(message.raw))
            reply = await protocol.read_response(timeout=self.settings.relay_timeout)
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            connection.broken = True
            return outcomes.in_doubt(rid, f"no answer from {self.settings.relay_host} after the message was sent "
                                          f"({type(exc).__name__}: {exc}); it may have been queued")
        connection.messages += 1
        if 200 <= reply.code < 300:
            return outcomes.delivered(rid, reply.code, reply.message, provider_id=message.message_id)
        if reply.code == 421:
            connection.broken = True
        return outcomes.refused(rid, "message", reply.code, reply.message)

    async def _reset(self, connection: RelayConnection) -> None:
        """RSET after a refused step so the connection can carry the next message."""
        if not connection.smtp.is_connected:
            connection.broken = True
            return
        try:
            await connection.smtp.rset()
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
            connection.broken = True

    # -- in doubt -------------------------------------------------------------------------------

    async def settle(self, recipients: Sequence[Recipient]) -> dict[int, DeliveryResult]:
        """No SMTP server can be asked whether it queued a message: every row in doubt is
        ``unknown`` at once, and ``gateway.in_doubt`` decides (``hold``: never sent twice)."""
        return {row.id: DeliveryResult(row.id, "unknown",
                                       message="the relay's answer to the message was lost; SMTP cannot tell "
                                               "whether it was queued")
                for row in recipients}


class _Stale(Exception):
    """The connection failed at MAIL FROM: nothing of the message reached the relay."""


class _Collected:
    """The sink :meth:`SmtpDelivery.send` gives :meth:`SmtpDelivery.send_each`: no marks, results kept."""

    def __init__(self) -> None:
        self.results: list[DeliveryResult] = []

    async def dispatching(self, recipient_ids: Sequence[int]) -> Sequence[int]:
        return recipient_ids

    async def result(self, result: DeliveryResult) -> None:
        self.results.append(result)
