"""Settings of the SMTP listener: the ``listen…`` keys of ``[plugins.smtp]``."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Mailgun's limit on one message (its SMTP and HTTP doors alike).
DEFAULT_MAX_MESSAGE_MB = 25.0
#: A domain name: labels of letters, digits and hyphens, at least two of them.
DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def split_listen(value: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:2525"`` for IPv6) as ``(host, port)``; raises ``ValueError``."""
    host, colon, port = value.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listen must be 'host:port' with a port from 1 to 65535, got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write an IPv6 listen address in brackets ('[{host}]:{port}'), got {value!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``): only this machine can connect."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class IngressSettings(BaseModel):
    """The SMTP listener. Off unless ``listen`` is set."""

    model_config = ConfigDict(extra="forbid")

    listen: str | None = None
    listen_hostname: str | None = Field(default=None, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$")
    listen_tls_cert: Path | None = None
    listen_tls_key: Path | None = None
    listen_implicit_tls: bool = False
    listen_require_tls: bool = True
    listen_max_message_mb: float = Field(default=DEFAULT_MAX_MESSAGE_MB, gt=0, le=100)
    listen_max_sessions: int = Field(default=100, ge=1, le=10_000)
    listen_idle_timeout: float = Field(default=300.0, gt=0, le=3600)
    receive_domains: list[str] = Field(default_factory=list, max_length=100)
    receive_max_message_kb: int = Field(default=256, ge=1, le=100 * 1024)

    @field_validator("receive_domains")
    @classmethod
    def _check_receive_domains(cls, value: list[str]) -> list[str]:
        domains = [name.strip().lower().rstrip(".") for name in value]
        for name in domains:
            if not DOMAIN_NAME.match(name):
                raise ValueError(f"receive_domains: {name!r} is not a domain name")
        return list(dict.fromkeys(domains))

    @model_validator(mode="after")
    def _check_listener(self) -> IngressSettings:
        if self.listen is None:
            return self
        host, _ = split_listen(self.listen)
        if (self.listen_tls_cert is None) != (self.listen_tls_key is None):
            raise ValueError("set both listen_tls_cert and listen_tls_key (PEM files), or neither")
        has_tls = self.listen_tls_cert is not None
        if self.listen_implicit_tls and not has_tls:
            raise ValueError("listen_implicit_tls needs listen_tls_cert and listen_tls_key")
        if self.listen_require_tls and not has_tls and not is_loopback(host) and not self.receive_domains:
            # A receive-only listener (the MX role) may run without a certificate: AUTH then stays
            # refused (538), so nobody can submit mail through it in clear text.
            raise ValueError(
                f"the SMTP listener on {self.listen} is not on a loopback address, so AUTH needs TLS: set "
                "listen_tls_cert and listen_tls_key, or listen_require_tls = false on a private network "
                "(or receive_domains alone, for a receive-only listener)"
            )
        return self

    @property
    def listen_address(self) -> tuple[str, int] | None:
        """``(host, port)`` of the listener, or ``None`` when it is off."""
        return None if self.listen is None else split_listen(self.listen)

    @property
    def listen_max_message_bytes(self) -> int:
        return int(self.listen_max_message_mb * 1024 * 1024)

    @property
    def receive_max_message_bytes(self) -> int:
        """Largest message taken without AUTH, never above ``listen_max_message_mb``."""
        return min(self.receive_max_message_kb * 1024, self.listen_max_message_bytes)

    @property
    def auth_needs_tls(self) -> bool:
        """AUTH only after STARTTLS (or on implicit TLS), except on a loopback listener."""
        address = self.listen_address
        return self.listen_require_tls and not (address and is_loopback(address[0]))
