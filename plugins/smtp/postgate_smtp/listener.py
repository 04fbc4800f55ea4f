"""The SMTP listener: an aiosmtpd server on the gateway's own event loop, as an entry door.

The gateway's serving process starts it (``register_ingress`` returns it; it has async
``start()``/``stop()``), so every message it takes goes through ``gateway.accept`` on the loop
the storage lives on. aiosmtpd's own ``Controller`` (a thread with a loop of its own) is not used.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import warnings
from typing import Any

from aiosmtpd.smtp import SMTP

from postgate import ConfigError, Gateway

from .ingress import IngressHandler
from .ingress_settings import IngressSettings
from .receiving import Receiver

log = logging.getLogger("postgate.smtp.listener")

IDENT = "Postgate ESMTP"
BUSY = b"421 4.7.0 Too many connections, try again later\r\n"
#: AUTH attempts one connection may make before it is closed (421); every other command is free.
CALL_LIMITS = {"AUTH": 5, "*": 1_000_000}
#: Seconds ``stop()`` lets messages being accepted finish before it closes their connections.
STOP_GRACE = 10.0


class QuietAiosmtpd(logging.Filter):
    """aiosmtpd logs each command line at INFO, AUTH's base64 credentials included, and warns of
    its own deprecated ``login_data`` on every login: only its errors pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def quiet_aiosmtpd() -> None:
    """Filter aiosmtpd's log, and its warning that AUTH without TLS is risky: Postgate allows that
    only on a loopback listener or when the operator set ``listen_require_tls = false``."""
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS", module="aiosmtpd")
    logger = logging.getLogger("mail.log")
    if not any(isinstance(f, QuietAiosmtpd) for f in logger.filters):
        logger.addFilter(QuietAiosmtpd())


class ListenerSession(SMTP):
    """aiosmtpd's protocol, counted by its listener while connected."""

    def __init__(self, listener: SmtpListener, **kwargs: Any) -> None:
        super().__init__(listener.handler, **kwargs)
        self.listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is None:  # not the STARTTLS upgrade of a counted session
            self.listener.sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.listener.sessions.discard(self)
        super().connection_lost(error)


class Busy(asyncio.Protocol):
    """What a connection beyond ``listen_max_sessions`` gets: a 421 and the door closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(BUSY)  # type: ignore[attr-defined]
        transport.close()


def server_tls_context(settings: IngressSettings) -> ssl.SSLContext | None:
    """The operator's certificate as a server context (TLS 1.2 or newer), or ``None``. Blocking."""
    if settings.listen_tls_cert is None or settings.listen_tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.listen_tls_cert, settings.listen_tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"[plugins.smtp] cannot load listen_tls_cert {settings.listen_tls_cert} with listen_tls_key "
            f"{settings.listen_tls_key}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    return context


class SmtpListener:
    """Mailgun's SMTP door: ``[plugins.smtp] listen``, STARTTLS (or implicit TLS), AUTH, limits."""

    def __init__(self, gateway: Gateway, settings: IngressSettings) -> None:
        self.gateway = gateway
        self.settings = settings
        receiver = (Receiver(gateway, settings.receive_domains, settings.receive_max_message_bytes)
                    if settings.receive_domains else None)
        self.handler = IngressHandler(gateway, receiver)
        self.sessions: set[ListenerSession] = set()
        self.server: asyncio.Server | None = None
        self.hostname = settings.listen_hostname or ""
        self.tls: ssl.SSLContext | None = None

    @property
    def port(self) -> int | None:
        """The port listened on (the one the system chose for port 0), once started."""
        if self.server is None or not self.server.sockets:
            return None
        return self.server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        address = self.settings.listen_address
        if address is None or self.server is not None:
            return
        quiet_aiosmtpd()
        self.tls = await asyncio.to_thread(server_tls_context, self.settings)
        if not self.hostname:  # aiosmtpd would look it up for every connection, on the loop
            self.hostname = await asyncio.to_thread(socket.getfqdn)
        host, port = address
        implicit = self.settings.listen_implicit_tls
        try:
            self.server = await asyncio.get_running_loop().create_server(
                self._protocol, host, port, ssl=self.tls if implicit else None)
        except OSError as exc:
            raise ConfigError(f"cannot listen for SMTP on {self.settings.listen}: {exc.strerror or exc}; "
                              "change listen under [plugins.smtp]") from None
        log.info("SMTP listener on %s (%s)", self.settings.listen,
                 "implicit TLS" if implicit else "STARTTLS" if self.tls else "no TLS")

    def _protocol(self) -> asyncio.Protocol:
        if len(self.sessions) >= self.settings.listen_max_sessions:
            return Busy()
        implicit = self.settings.listen_implicit_tls
        return ListenerSession(
            self,
            data_size_limit=self.settings.listen_max_message_bytes,
            hostname=self.hostname,
            ident=IDENT,
            tls_context=None if implicit else self.tls,
            require_starttls=False,  # AUTH needs TLS (auth_require_tls); EHLO, NOOP, QUIT do not
            timeout=self.settings.listen_idle_timeout,
            auth_required=not self.settings.receive_domains,  # else the handler asks for AUTH itself
            auth_require_tls=self.settings.auth_needs_tls and not implicit,
            authenticator=self.handler.authenticate,
            command_call_limit=CALL_LIMITS,
        )

    async def stop(self) -> None:
        """Stop listening, let messages being accepted finish (a bounded wait), close sessions."""
        server, self.server = self.server, None
        if server is None:
            return
        server.close()
        deadline = asyncio.get_running_loop().time() + STOP_GRACE
        while self.handler.in_flight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()
        await server.wait_closed()
