"""Settings of SMTP delivery (``relay_*``) and of the DSN mailbox read over IMAP (``dsn_*``).

They live in ``[plugins.smtp]`` next to the listener's settings; every field here starts with
``relay_`` or ``dsn_`` so the two sides never meet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RelayTls = Literal["starttls", "implicit", "none"]

#: The port each TLS mode uses when ``relay_port`` is not set.
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "implicit": 465, "none": 25}


class RelaySettings(BaseModel):
    """Delivery through an SMTP server (``backends.delivery = "smtp"``), and its DSN mailbox."""

    model_config = ConfigDict(extra="forbid")

    # -- the relay ------------------------------------------------------------------------------
    relay_host: str | None = Field(None, description="SMTP server to deliver through (required for the smtp delivery)")
    relay_port: int | None = Field(None, ge=1, le=65535, description="its port; default 587, 465 (implicit) or 25 (none)")
    relay_tls: RelayTls = Field("starttls", description="starttls (required), implicit (TLS from the first byte) or none")
    relay_verify_certificate: bool = Field(True, description="verify the server's certificate and host name")
    relay_ca_file: Path | None = Field(None, description="PEM file of the CAs to trust instead of the system's")
    relay_username: str | None = Field(None, description="AUTH user name; none: no AUTH")
    relay_password_env: str | None = Field(
        None, description="name of the environment variable that holds the AUTH password")
    relay_local_hostname: str | None = Field(None, description="name sent with EHLO; default: this machine's")
    relay_connections: int = Field(4, ge=1, le=1000, description="connections (and messages in flight) per relay host")
    relay_pipelining: bool = Field(True, description="send MAIL, RCPT and DATA together when the relay offers PIPELINING")
    relay_mark_ahead: int = Field(
        1, ge=0, le=10, description="messages per connection marked dispatched while the one before is sent (0: none)")
    relay_max_rate: float | None = Field(None, gt=0, description="messages per second to the relay, across every worker")
    relay_timeout: float = Field(30.0, gt=0, description="seconds to wait for a connection or any server reply")
    relay_messages_per_connection: int = Field(
        100, ge=1, description="messages sent over one connection before it is closed and a new one opened")
    relay_idle_seconds: float = Field(30.0, gt=0, description="an idle connection older than this is closed, not reused")
    relay_verp_address: str | None = Field(
        None, description="return path for VERP, e.g. bounces@bounce.example.com (becomes bounces+pg<batch>-<row>@...)")

    # -- asynchronous bounces (DSNs) read over IMAP ---------------------------------------------
    dsn_imap_host: str | None = Field(None, description="IMAP server of the mailbox DSNs arrive in")
    dsn_imap_port: int | None = Field(None, ge=1, le=65535, description="its port; default 993 (implicit TLS) or 143")
    dsn_imap_tls: bool = Field(True, description="IMAP over implicit TLS, certificate verified")
    dsn_imap_ca_file: Path | None = Field(None, description="PEM file of the CAs to trust for IMAP instead of the system's")
    dsn_imap_username: str | None = Field(None, description="IMAP login")
    dsn_imap_password_env: str | None = Field(None, description="name of the environment variable that holds the IMAP password")
    dsn_imap_mailbox: str = Field("INBOX", description="mailbox read for DSNs")
    dsn_poll_seconds: float = Field(30.0, gt=0, description="pause between two reads of the mailbox")
    dsn_delete_handled: bool = Field(
        False, description="delete a DSN once its events are stored (default: mark it seen)")
