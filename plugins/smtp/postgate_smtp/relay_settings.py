"""Settings of SMTP delivery (filled in by the delivery work)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RelaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
