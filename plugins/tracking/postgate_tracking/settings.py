"""The ``[plugins.tracking]`` table: the tracking host, signing keys, defaults and policies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .reader_settings import SimulateReaders

#: What reaches ``GET /events`` of a hit flagged as a machine's (raw hits are always kept).
MachinePolicy = Literal["label", "drop-scanners", "drop-machines"]
ClickSwitch = bool | Literal["htmlonly"]

#: A mail domain (lower case, two labels or more), as ``unsubscribe_mail_domain`` takes it.
MAIL_DOMAIN = r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$"

HSTS_TRAP = (
    "tracking links must use https://: a tracking host under a domain that sends "
    "Strict-Transport-Security with includeSubDomains makes browsers refuse every plain-http "
    "tracking link (the HSTS trap), so Postgate never writes one; serve the tracking host "
    "behind a TLS proxy (see docs/tracking.md)"
)


def check_base_url(value: str | None) -> str | None:
    """An absolute ``https://host[/path]`` origin, without a trailing slash."""
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme != "https":
        raise ValueError(f"{value!r}: {HSTS_TRAP}")
    if not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{value!r} must be an https origin such as https://track.example.com")
    return value.strip().rstrip("/")


class DomainTracking(BaseModel):
    """Per sending domain: anything left unset follows the plugin-wide value."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="tracking host of this domain, https only")
    opens: bool | None = Field(None, description="track opens when a message does not say")
    clicks: ClickSwitch | None = Field(None, description="track clicks when a message does not say")
    pixel_top: bool | None = Field(None, description="open pixel at the top of the HTML when a message does not say")
    unsubscribe: bool | None = Field(None, description="fill Mailgun's unsubscribe variables with signed links")
    unsubscribe_mail_domain: str | None = Field(
        None, pattern=MAIL_DOMAIN, max_length=253, description="receive domain of this sending domain's unsubscribe addresses")
    machines: MachinePolicy | None = Field(None, description="which machine hits reach GET /events")

    _check_url = field_validator("base_url")(classmethod(lambda cls, v: check_base_url(v)))


class TrackingSettings(BaseModel):
    """Settings of the tracking plugin (``POSTGATE_PLUGINS__TRACKING__<KEY>`` in the environment)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(
        None, description="https origin of the tracking host (a CNAME of the sending domain, "
        "e.g. https://email.mg.example.com); unset: nothing is tracked")
    keys_env: str = Field(
        "POSTGATE_TRACKING_KEYS", description="environment variable holding the signing keys as "
        "'id:secret' pairs separated by commas; the first signs, all verify (rotation)")
    trust_proxy: bool = Field(
        False, description="take the client address from X-Forwarded-For (only behind your own "
        "TLS proxy on the loopback)")
    opens: bool = Field(False, description="track opens when a message does not say (o:tracking-opens)")
    clicks: ClickSwitch = Field(False, description="track clicks when a message does not say")
    pixel_top: bool = Field(False, description="open pixel at the top of the HTML when a message does not "
                            "say (o:tracking-pixel-location-top)")
    unsubscribe: bool = Field(True, description="fill %unsubscribe_url% and its kin with signed links "
                              "on the tracking host")
    unsubscribe_mail_domain: str | None = Field(
        None, pattern=MAIL_DOMAIN, max_length=253, description="a domain whose mail reaches Postgate (the smtp plugin's "
        "receive_domains): fill %unsubscribe_email% and %tag_unsubscribe_email% with signed "
        "mailto: addresses at it; unset: their List-Unsubscribe element is dropped")
    machines: MachinePolicy = Field("drop-scanners", description="which machine hits reach GET /events")
    ip_policy: Literal["store", "truncate", "drop"] = Field(
        "truncate", description="client address kept in events and hits: whole, truncated "
        "(IPv4 /24, IPv6 /48) or not at all")
    geoip_database: Path | None = Field(None, description="MaxMind-format database (GeoLite2 City, DB-IP lite) for geolocation")
    flush_seconds: float = Field(0.2, gt=0, le=10, description="longest a hit waits before it is stored")
    flush_size: int = Field(1000, ge=1, description="hits stored per group commit at most")
    buffer_limit: int = Field(50_000, ge=1, description="hits waiting in memory at most (while the "
                              "database is down); beyond it hits are answered but dropped and counted")
    fast_path: bool = Field(True, description="answer pixel and link hits of cached batches before Quart "
                            "(docs/tracking.md, The fast path)")
    domains: dict[str, DomainTracking] = Field(default_factory=dict, description="per sending domain")
    simulate_readers: SimulateReaders | None = Field(
        None, description="outbox only: pretend readers open and click (docs/tracking.md)")

    _check_url = field_validator("base_url")(classmethod(lambda cls, v: check_base_url(v)))

    @field_validator("domains")
    @classmethod
    def _lower(cls, value: dict[str, DomainTracking]) -> dict[str, DomainTracking]:
        return {name.lower(): entry for name, entry in value.items()}

    def for_domain(self, domain: str) -> DomainTracking:
        """The domain's settings with every unset value filled from the plugin-wide ones."""
        own = self.domains.get(domain.lower(), DomainTracking())
        return DomainTracking.model_construct(
            base_url=own.base_url or self.base_url,
            opens=self.opens if own.opens is None else own.opens,
            clicks=self.clicks if own.clicks is None else own.clicks,
            pixel_top=self.pixel_top if own.pixel_top is None else own.pixel_top,
            unsubscribe=self.unsubscribe if own.unsubscribe is None else own.unsubscribe,
            unsubscribe_mail_domain=own.unsubscribe_mail_domain or self.unsubscribe_mail_domain,
            machines=own.machines or self.machines,
        )

    def unsubscribe_mail_domains(self) -> frozenset[str]:
        """Every domain an unsubscribe address may be at (plugin-wide and per sending domain)."""
        names = [self.unsubscribe_mail_domain, *(d.unsubscribe_mail_domain for d in self.domains.values())]
        return frozenset(name for name in names if name)

    def signing_keys(self) -> list[tuple[str, bytes]]:
        """``(key id, secret)`` pairs from the environment, the signing key first."""
        raw = os.environ.get(self.keys_env, "")
        keys = []
        for item in filter(None, (part.strip() for part in raw.split(","))):
            key_id, sep, secret = item.partition(":")
            if not sep or not key_id.isalnum() or len(key_id) > 16 or len(secret) < 16:
                raise ValueError(f"{self.keys_env}: each key is 'id:secret' with an alphanumeric id "
                                 "of at most 16 characters and a secret of at least 16")
            keys.append((key_id, secret.encode()))
        return keys
