"""``[plugins.webhooks]``: where and how webhook deliveries are made."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Mailgun's retry schedule after a failed POST: 10 min, 10 min, 15 min, 30 min, 1 h, 2 h, 4 h.
MAILGUN_RETRY_SCHEDULE = [600.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0]


class WebhooksSettings(BaseModel):
    """Settings of the webhooks plugin; every one has a default."""

    model_config = ConfigDict(extra="forbid")

    allow_private_targets: bool = Field(
        False, description="allow webhook URLs on loopback, link-local and private addresses (SSRF guard off)")
    deliver: Literal["all", "workers"] | bool = Field(
        "all", description='where the delivery loop runs: "all" processes that run background work '
                           '(postgate serve with workers, postgate worker), "workers" (postgate worker only) '
                           'or false (none); true means "all"')
    retry_schedule: list[float] = Field(
        default_factory=lambda: list(MAILGUN_RETRY_SCHEDULE),
        description="seconds to wait before each retry of a failed POST (Mailgun's by default)")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="time allowed for one POST")
    max_connections: int = Field(50, ge=1, le=1000, description="concurrent POSTs of this process")
    per_url_connections: int = Field(16, ge=1, le=1000, description="concurrent POSTs to one URL")
    breaker_failures: int = Field(
        5, ge=1, description="consecutive failures after which a URL is left alone for a while")
    breaker_seconds: float = Field(30.0, gt=0, description="first pause of a failing URL (doubles, up to 10 min)")
    lease_seconds: float = Field(60.0, gt=0, description="how long a claimed delivery is reserved for its worker")
    poll_seconds: float = Field(0.5, gt=0, le=60, description="how often the queue is read when nothing woke it")
    claim_batch: int = Field(200, ge=1, le=5000, description="deliveries claimed per read")
    subscriptions_refresh_seconds: float = Field(
        5.0, ge=0, description="how long a process trusts its copy of the webhook URLs")
    keep_days: float = Field(7.0, gt=0, description="days finished deliveries and attempts are kept")

    def delivers_here(self, serving: bool) -> bool:
        """Whether a process running background work delivers (``serving``: it also serves HTTP)."""
        if self.deliver == "workers":
            return not serving
        return self.deliver is True or self.deliver == "all"

    @field_validator("retry_schedule")
    @classmethod
    def _schedule(cls, value: list[float]) -> list[float]:
        if len(value) > 50 or any(not 0 <= step <= 7 * 86400 for step in value):
            raise ValueError("at most 50 steps, each between 0 and 604800 seconds")
        return value
