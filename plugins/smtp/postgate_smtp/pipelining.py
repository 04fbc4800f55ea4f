"""SMTP PIPELINING (RFC 2920) on an aiosmtplib connection.

aiosmtplib reads one reply per command written and drops a reply that arrives before it is
awaited, so it cannot send ``MAIL``, ``RCPT`` and ``DATA`` together. :class:`PipeliningProtocol`
is its protocol with one change: every complete reply that arrives is kept, in order, until a
command asks for it. :func:`enable` puts it under a connection that is already set up (greeting,
EHLO, STARTTLS, AUTH done by aiosmtplib) when the relay offers PIPELINING, and
:func:`send_group` writes several commands at once and returns their replies in order.

It relies on aiosmtplib's protocol internals (``_buffer``, ``_response_waiter``,
``_read_response_from_buffer``) of the pinned version; the tests run it against aiosmtpd and
Postfix.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import aiosmtplib
from aiosmtplib.protocol import SMTPProtocol
from aiosmtplib.response import SMTPResponse

#: Most bytes of replies kept unread (a relay streaming endless replies is cut off).
MAX_UNREAD = 256 * 1024


class PipeliningProtocol(SMTPProtocol):
    """aiosmtplib's protocol that keeps every reply until it is read (see the module documentation)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._replies: collections.deque[SMTPResponse] = collections.deque()

    def data_received(self, data: bytes) -> None:
        waiter = self._response_waiter
        if waiter is None:
            return
        self._buffer.extend(data)
        if len(self._buffer) > MAX_UNREAD:
            del self._buffer[:]
            if not waiter.done():
                self._set_response_exception(waiter, aiosmtplib.SMTPResponseException(-1, "Response too long"))
            return
        while True:
            try:
                reply = self._read_response_from_buffer()
            except Exception as exc:  # noqa: BLE001 - a malformed reply fails the command waiting for it
                del self._buffer[:]
                if not waiter.done():
                    self._set_response_exception(waiter, exc)
                return
            if reply is None:
                break
            self._replies.append(reply)
        self._hand_over()

    def _hand_over(self) -> None:
        waiter = self._response_waiter
        if waiter is not None and self._replies and not waiter.done():
            waiter.set_result(self._replies.popleft())

    async def read_response(self, timeout: float | None = None) -> SMTPResponse:
        self._hand_over()
        return await super().read_response(timeout=timeout)


def enable(smtp: aiosmtplib.SMTP) -> bool:
    """Put a :class:`PipeliningProtocol` under ``smtp`` if the relay offers PIPELINING; whether it did."""
    transport, old = smtp.transport, smtp.protocol
    if transport is None or old is None or not smtp.supports_extension("pipelining"):
        return False
    new = PipeliningProtocol(loop=smtp.loop, connection_lost_callback=smtp._on_connection_lost)  # noqa: SLF001
    transport.set_protocol(new)
    new.connection_made(transport)
    new._response_pending = False  # noqa: SLF001 - no greeting is coming: the session is set up
    smtp.protocol = new
    return True


async def send_group(smtp: aiosmtplib.SMTP, commands: Sequence[bytes], timeout: float | None) -> list[SMTPResponse]:
    """Write ``commands`` (each without its CRLF) at once; their replies, in order."""
    protocol = smtp.protocol
    if not isinstance(protocol, PipeliningProtocol):
        raise aiosmtplib.SMTPServerDisconnected("connection lost")
    protocol.write(b"".join(command + b"\r\n" for command in commands))
    return [await protocol.read_response(timeout=timeout) for _ in commands]
