"""A pool of authenticated aiosmtplib connections to one relay host, reused across messages.

At most ``relay_connections`` connections exist at once (the host's concurrency): each belongs to
a lane (:mod:`postgate_smtp.lanes`) that holds one :meth:`RelayPool.slot` and carries one
message at a time over it. A connection is pooled again when its lane ends, and closed instead
after ``relay_messages_per_connection`` messages, after any error, or when it has sat idle
longer than ``relay_idle_seconds``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiosmtplib

from . import pipelining
from .relay_settings import DEFAULT_PORTS, RelaySettings


def tls_context(verify: bool, ca_file: Path | None) -> ssl.SSLContext:
    """A client context: the system's CAs (or ``ca_file``'s), host name checked unless ``verify`` is off.

    Blocking (reads files): call it off the event loop."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(slots=True)
class RelayConnection:
    """One open SMTP session and how much it has been used."""

    smtp: aiosmtplib.SMTP
    messages: int = 0
    last_used: float = field(default_factory=time.monotonic)
    broken: bool = False
    pipelined: bool = False  # MAIL, RCPT and DATA go in one write (the relay offers PIPELINING)

    @property
    def utf8(self) -> bool:
        return self.smtp.supports_extension("smtputf8")


class RelayPool:
    """Connections to ``settings.relay_host`` (see the module documentation)."""

    def __init__(self, settings: RelaySettings, context: ssl.SSLContext | None, password: str | None) -> None:
        if not settings.relay_host:
            raise ValueError("[plugins.smtp] relay_host is not set")
        self.settings = settings
        self.host = settings.relay_host
        self.port = settings.relay_port or DEFAULT_PORTS[settings.relay_tls]
        self.context = context
        self.password = password
        self._idle: list[RelayConnection] = []
        self._slots = asyncio.Semaphore(settings.relay_connections)
        self.opened = 0  # connections opened since start (tests and logs read it)
        self.pipelined = 0  # of which pipelined

    async def open(self) -> RelayConnection:
        """A new connection: greeting, EHLO, STARTTLS or implicit TLS, AUTH."""
        settings = self.settings
        mode = settings.relay_tls
        smtp = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, timeout=settings.relay_timeout,
            local_hostname=settings.relay_local_hostname,
            use_tls=mode == "implicit", start_tls=mode == "starttls",
            tls_context=self.context if mode != "none" else None,
            username=settings.relay_username, password=self.password if settings.relay_username else None,
        )
        await smtp.connect()
        if smtp.last_ehlo_response is None and smtp.last_helo_response is None:
            # After STARTTLS without AUTH nothing has said EHLO again yet: learn the extensions
            # (SIZE, 8BITMIME, SMTPUTF8, PIPELINING) of the encrypted session now.
            try:
                await smtp.ehlo()
            except aiosmtplib.SMTPHeloError:
                await smtp.helo()
        self.opened += 1
        connection = RelayConnection(smtp, pipelined=settings.relay_pipelining and pipelining.enable(smtp))
        self.pipelined += connection.pipelined
        return connection

    def take_idle(self) -> RelayConnection | None:
        """A pooled connection still open and not idle too long, or ``None`` (call within :meth:`slot`)."""
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.smtp.is_connected and now - connection.last_used < self.settings.relay_idle_seconds:
                return connection
            self._close_soon(connection)
        return None

    def slot(self) -> asyncio.Semaphore:
        """The right to hold one connection (``async with pool.slot():``)."""
        return self._slots

    def give_back(self, connection: RelayConnection) -> None:
        """Pool a connection after use, or close it if it is broken or has carried its share."""
        connection.last_used = time.monotonic()
        if self.spent(connection):
            self._close_soon(connection)
        else:
            self._idle.append(connection)

    def spent(self, connection: RelayConnection) -> bool:
        """Whether a connection must not carry another message (broken, closed, or its share sent)."""
        return (connection.broken or not connection.smtp.is_connected
                or connection.messages >= self.settings.relay_messages_per_connection)

    def _close_soon(self, connection: RelayConnection) -> None:
        if connection.broken or not connection.smtp.is_connected:
            connection.smtp.close()
            return
        task = asyncio.get_running_loop().create_task(quit_quietly(connection.smtp))
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)

    async def close(self) -> None:
        """QUIT every idle connection (those in use go back or are closed when their lanes end)."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(quit_quietly(c.smtp) for c in idle))
        if _CLOSING:
            await asyncio.gather(*list(_CLOSING), return_exceptions=True)


_CLOSING: set[asyncio.Task[None]] = set()


async def quit_quietly(smtp: aiosmtplib.SMTP) -> None:
    """QUIT, then close whatever the server answered (or failed to)."""
    try:
        await asyncio.wait_for(smtp.quit(), 5)
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
        pass
    finally:
        smtp.close()
