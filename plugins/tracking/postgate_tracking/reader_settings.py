"""``[plugins.tracking] simulate_readers``: the outbox's pretend readers (see :mod:`simulated_readers`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SimulateReaders(BaseModel):
    """Shares are of delivered recipients; each recipient's choices are drawn once, from the seed."""

    model_config = ConfigDict(extra="forbid")

    open_share: float = Field(0.4, ge=0, le=1, description="recipients who read the message (open it)")
    click_share: float = Field(0.1, ge=0, le=1, description="recipients who read and follow one link "
                               "(at most open_share)")
    apple_share: float = Field(0.3, ge=0, le=1, description="recipients on Apple Mail with Mail Privacy "
                               "Protection: Apple's proxy fetches their pixel whether they read or not")
    gmail_share: float = Field(0.2, ge=0, le=1, description="recipients on Gmail: their opens come "
                               "through Google's image proxy")
    delay_seconds: tuple[float, float] = Field((5.0, 60.0), description="after delivery, before the "
                                               "open (drawn evenly in this range)")
    click_delay_seconds: tuple[float, float] = Field((10.0, 120.0), description="after the open, before "
                                                     "the click; clicks under 10 s after delivery "
                                                     "count as a scanner's")
    seed: int | None = Field(None, description="makes every choice repeatable (tests, demos)")
    concurrency: int = Field(8, ge=1, le=256, description="requests in flight at most")
    pending_limit: int = Field(10_000, ge=1, description="readers waiting for their turn at most; "
                               "deliveries beyond are not simulated")
    fetch_origin: str | None = Field(None, description="where the requests go instead of the tracking "
                                     "host (e.g. http://127.0.0.1:3000 on a laptop without a TLS "
                                     "proxy); unset: the URLs as written in the message")

    @model_validator(mode="after")
    def _consistent(self) -> SimulateReaders:
        if self.click_share > self.open_share:
            raise ValueError("click_share cannot exceed open_share: only readers click")
        if self.apple_share + self.gmail_share > 1:
            raise ValueError("apple_share + gmail_share cannot exceed 1")
        for name in ("delay_seconds", "click_delay_seconds"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} is [low, high] with 0 <= low <= high")
        if self.fetch_origin is not None:
            origin = self.fetch_origin.strip().rstrip("/")
            if not origin.startswith(("http://", "https://")):
                raise ValueError("fetch_origin is an http(s) origin such as http://127.0.0.1:3000")
            self.fetch_origin = origin
        return self
