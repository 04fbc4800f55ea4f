"""Helpers of the SMTP listener tests: a self-signed certificate, a gateway with the listener on
a loopback port, and reading what it accepted (outbox files, the events API)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import postgate_smtp.plugin as smtp_plugin
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, free_port

LOGIN = f"postmaster@{TEST_DOMAIN}"


@dataclass
class Certificate:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate only (and checks the host name)."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed(folder: Path) -> Certificate:
    """A certificate for ``localhost`` and 127.0.0.1, valid for a day, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


@dataclass
class SmtpGateway:
    """A live gateway (HTTP on ``server.url``) with its SMTP listener on ``smtp_port``."""

    server: Any
    smtp_port: int
    data_dir: Path

    def outbox(self) -> list[Path]:
        return sorted((self.data_dir / "outbox").rglob("*.eml"))

    def wait_for_outbox(self, count: int = 1, timeout: float = 20.0) -> list[Path]:
        deadline = time.monotonic() + timeout
        while len(self.outbox()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.outbox()

    def events(self, **params: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.server.url}/v3/{TEST_DOMAIN}/events", params=params,
                           auth=("api", TEST_KEY), timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    def wait_for_event(self, event: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(event=event)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def smtp_gateway(live_server, *, host: str = "127.0.0.1", background: bool = True,
                 settings: dict[str, Any] | None = None, plugins: tuple[object, ...] = (),
                 plugin_settings: dict[str, Any] | None = None, **listener: Any) -> SmtpGateway:
    """Start a live gateway with the smtp plugin (and ``plugins``) listening on ``host`` and a
    free port; ``listener`` are ``[plugins.smtp]`` keys, ``settings`` other top-level settings,
    ``plugin_settings`` the other plugins' sections."""
    port = free_port()
    server = live_server(plugins=[smtp_plugin, *plugins], background=background, **(settings or {}),
                         plugin_settings={**(plugin_settings or {}),
                                          "smtp": {"listen": f"{host}:{port}", **listener}})
    return SmtpGateway(server, port, Path(server.gateway.settings.data_dir))
