"""``[plugins.dashboard]`` settings of the web shell."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator, model_validator

_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")


class DashboardSettings(BaseModel):
    """Where the dashboard is mounted and how sign-in behaves."""

    model_config = ConfigDict(extra="forbid")

    mount: str = "/dashboard"
    #: ``host:port`` to serve the dashboard on a listener of its own (not on the API's); unset:
    #: served by the gateway's listener under ``mount``.
    listen: str | None = None
    #: Signs the session cookie and the CSRF tokens; generated into the data folder when unset.
    secret_key: SecretStr | None = None
    #: Send cookies only over HTTPS. Turn off only for plain-HTTP development on 127.0.0.1.
    cookie_secure: bool = True
    #: Wrong passwords in a row before an account is locked.
    login_attempts: int = Field(default=5, ge=1, le=100)
    #: How long a locked account stays locked.
    lockout_seconds: int = Field(default=900, ge=1)
    #: Failed sign-ins one client address may make per ``lockout_seconds`` (any accounts).
    address_attempts: int = Field(default=20, ge=1)
    #: Operations warns when sends go on this long without a provider event on their domain.
    events_silence_seconds: int = Field(default=900, ge=1)
    #: Session length in seconds.
    session_seconds: int = Field(default=12 * 3600, ge=60)
    #: Longest life of one live-update stream (Server-Sent Events); the browser then reconnects.
    live_stream_seconds: int = Field(default=600, ge=1, le=86400)
    #: Worker loops count as alive while their last heartbeat is at most this old.
    worker_alive_seconds: int = Field(default=60, ge=5)
    #: Look up recipient domains' MX hosts to tell Google Workspace, Microsoft 365 and others
    #: (off by default: it tells your resolver which domains you send to).
    mx_lookups: bool = False
    #: DNS servers for the MX look-ups (``address`` or ``address:port``); unset: the system's.
    mx_nameservers: list[str] | None = None
    #: How long a found MX answer is kept (seconds).
    mx_ttl_seconds: int = Field(default=7 * 86400, ge=60)
    #: How long a failed or provider-less look-up is kept before it is tried again (seconds).
    mx_negative_ttl_seconds: int = Field(default=3600, ge=10)
    #: MX look-ups in flight at once.
    mx_concurrency: int = Field(default=16, ge=1, le=256)
    #: Longest wait for one MX look-up (seconds).
    mx_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    #: Behind a single-sign-on proxy: the request header that names the signed-in person's email
    #: (``X-Forwarded-Email``). Off (unset) by default; honoured only from ``trusted_proxies``.
    trusted_header: str | None = None
    #: Networks (CIDR) of the proxies whose ``trusted_header`` is believed: the direct peer address
    #: must be in one of them.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    #: An address the proxy names that has no account: refused (unset) or given a new account of
    #: this role.
    trusted_header_create_role: Literal["admin", "viewer"] | None = None

    @field_validator("listen")
    @classmethod
    def _listen_address(cls, value: str | None) -> str | None:
        if value is not None:
            from .listener import split_address

            split_address(value)
        return value

    @field_validator("mx_nameservers")
    @classmethod
    def _nameservers(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            from ..rollups.mx_resolver import parse_nameserver

            for server in value:
                parse_nameserver(server)
        return value

    @field_validator("trusted_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        if value is not None and not _HEADER_NAME.fullmatch(value):
            raise ValueError("trusted_header must be a header name such as X-Forwarded-Email")
        return value

    @model_validator(mode="after")
    def _header_needs_proxies(self) -> DashboardSettings:
        if self.trusted_header and not self.trusted_proxies:
            raise ValueError("trusted_header needs trusted_proxies: the addresses of the proxies to believe")
        return self

    @field_validator("mount")
    @classmethod
    def _mount_path(cls, value: str) -> str:
        value = "/" + value.strip("/")
        if value == "/" or value.startswith(("/v3", "/v4")):
            raise ValueError("mount must be a path of its own, such as /dashboard")
        return value
