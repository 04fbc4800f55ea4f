"""Settings of the SMTP listener (filled in by the ingress work)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class IngressSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
