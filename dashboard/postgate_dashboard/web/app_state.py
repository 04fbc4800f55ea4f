"""One dashboard per gateway: its settings, secret, session manager, throttle and setup token."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet
from jinja2 import Environment, PackageLoader, select_autoescape

from .event_polls import PollClock
from .event_stream import LIVE_INTERVAL
from .progress_samples import SAMPLE_SECONDS, ProgressSampler
from .session import DashboardAuth
from .settings import DashboardSettings
from .throttle import AddressThrottle
from .two_factor import secret_box


def template_environment() -> Environment:
    """Jinja with autoescaping on for every template, whatever its name."""
    return Environment(loader=PackageLoader("postgate_dashboard.web", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       enable_async=True, trim_blocks=True, lstrip_blocks=True)


@dataclass
class Dashboard:
    gateway: Any
    settings: DashboardSettings
    secret: bytes
    auth: DashboardAuth
    throttle: AddressThrottle
    templates: Environment = field(default_factory=template_environment)
    #: Printed at start while no account exists; the setup page trades it for the first admin.
    setup_token: str | None = None
    #: Set when the dashboard listens on an address of its own (``listen``).
    listener: Any = None
    #: When clients last read each domain's events (kept in ``dashboard_event_polls`` too).
    polls: PollClock = field(default_factory=PollClock)
    #: Seconds between two updates of a live page.
    live_interval: float = LIVE_INTERVAL
    #: Seconds between two samples of the sends going out (their progress curves).
    sample_interval: float = SAMPLE_SECONDS
    sampler: ProgressSampler | None = None

    def start_sampling(self) -> None:
        self.sampler = ProgressSampler(self.gateway, self.sample_interval)
        self.sampler.start()

    async def stop_sampling(self) -> None:
        if self.sampler is not None:
            await self.sampler.stop()
            self.sampler = None

    @functools.cached_property
    def totp_box(self) -> Fernet:
        """Encrypts the TOTP secrets at rest, with a key derived from ``secret``."""
        return secret_box(self.secret)

    def new_setup_token(self) -> str:
        self.setup_token = secrets.token_urlsafe(24)
        return self.setup_token

    def take_setup_token(self, offered: str) -> bool:
        """True once, for the right token; the token is gone afterwards."""
        token = self.setup_token
        if token is None or not offered or not secrets.compare_digest(token.encode(), offered.encode()):
            return False
        self.setup_token = None
        return True
