"""Test relays: a real aiosmtpd server in this process (its own thread and loop), with TLS from a
throw-away CA made with ``cryptography``, optional AUTH, and chosen answers per recipient.

The local part of a recipient picks the relay's answer:

==============  ====================================================================
``bounce*``     RCPT answered ``550 5.1.1 <addr>: Recipient address rejected: User unknown``
``full*``       the message answered ``552 5.2.2 Mailbox full``
``spam*``       the message answered ``554 5.7.1 Message rejected as spam``
``tempfail*``   RCPT answered ``451 4.2.0 Greylisted, try again later``
``drop*``       the message is queued (recorded), then the connection is closed before any reply
``cut*``        the first time: the relay says 354, reads the message's first line and hangs up
                mid-DATA (nothing queued); later transactions to the address go as usual
anything else   ``250 2.0.0 Ok: queued as <n>``
==============  ====================================================================
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from postgate.testing.fixtures import free_port

USERNAME, PASSWORD = "relay-user", "relay-secret"


@dataclass(frozen=True)
class Certificates:
    """A CA, and a server certificate it signed for ``localhost`` and ``127.0.0.1``."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(folder: Path, *, host: str = "localhost") -> Certificates:
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Postgate test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    files = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return files


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    authenticated: bool
    tls: bool
    at: float = field(default_factory=time.monotonic)  # when the relay queued it

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class SinkHandler:
    """aiosmtpd handler: records what it queued, answers by the recipient's local part."""

    received: list[Received] = field(default_factory=list)
    pipelining: bool = True
    cut: list[str] = field(default_factory=list)  # the ``cut*`` transactions hung up mid-DATA
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]):
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads commands line by line, so it handles pipelined ones
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        local = address.rpartition("@")[0].lower()
        if local.startswith("bounce"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
        if local.startswith("tempfail"):
            return "451 4.2.0 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        local = envelope.rcpt_tos[0].rpartition("@")[0].lower()
        if local.startswith("full"):
            return "552 5.2.2 <%s>: Mailbox full" % envelope.rcpt_tos[0]
        if local.startswith("spam"):
            return "554 5.7.1 Message rejected as spam"
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content),
                                          bool(session.authenticated),
                                          server.transport.get_extra_info("ssl_object") is not None))
            number = len(self.received)
        if local.startswith("drop"):
            server.transport.close()  # queued, but the answer never leaves
            return "250 2.0.0 never sent"
        return f"250 2.0.0 Ok: queued as Q{number:06d}"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_to]

    def cuts(self, address: str) -> bool:
        """Whether this DATA for ``address`` is one to hang up in the middle of (a ``cut*`` address's first)."""
        with self.lock:
            if not address.rpartition("@")[0].lower().startswith("cut") or address in self.cut:
                return False
            self.cut.append(address)
            return True


class _CuttingSMTP(SMTP):
    """aiosmtpd's server, but a ``cut*`` recipient's first DATA ends with the connection, mid-message."""

    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's name
        rcpt_tos = self.envelope.rcpt_tos if self.envelope is not None else []
        if arg or not rcpt_tos or not self.event_handler.cuts(rcpt_tos[0]):
            return await super().smtp_DATA(arg)
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        await self._reader.readuntil(b"\r\n")  # the message's first line, then no more
        assert self.transport is not None
        self.transport.close()


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _CuttingSMTP(self.handler, **self.SMTP_kwargs)


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = auth_data.login == USERNAME.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


class Relay:
    """An aiosmtpd relay on a free loopback port: ``tls`` "starttls" (required), "implicit" or "none"."""

    def __init__(self, certificates: Certificates | None, *, tls: str = "starttls", auth: bool = True,
                 hostname: str = "127.0.0.1", pipelining: bool = True) -> None:
        self.handler = SinkHandler(pipelining=pipelining)
        self.port = free_port()
        self.tls = tls
        self.auth = auth
        kwargs: dict[str, Any] = {"hostname": hostname, "port": self.port, "server_hostname": "relay.test",
                                  "enable_SMTPUTF8": True, "data_size_limit": 50 * 1024 * 1024}
        if tls == "starttls":
            assert certificates is not None
            kwargs.update(tls_context=certificates.server_context(), require_starttls=True)
        elif tls == "implicit":
            assert certificates is not None
            kwargs.update(ssl_context=certificates.server_context())
        if auth:
            kwargs.update(authenticator=_authenticator, auth_required=True, auth_require_tls=tls == "starttls")  # implicit TLS: aiosmtpd sees no STARTTLS
        self.controller = _Controller(self.handler, **kwargs)

    def __enter__(self) -> Relay:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)
