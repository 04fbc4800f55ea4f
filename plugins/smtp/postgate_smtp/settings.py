"""``[plugins.smtp]``: the SMTP listener's settings and the SMTP delivery's, in one table.

Each side keeps its fields in its own model; this one only joins them.
"""

from __future__ import annotations

from .ingress_settings import IngressSettings
from .relay_settings import RelaySettings


class SmtpSettings(IngressSettings, RelaySettings):
    """Everything under ``[plugins.smtp]``."""
