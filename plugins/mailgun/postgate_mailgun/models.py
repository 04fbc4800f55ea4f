"""The relay's own table (``register_models``): where the event source stopped reading."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class EventCursor(Model):
    """The next upstream events page to read, per upstream domain."""

    domain = fields.CharField(max_length=255, primary_key=True, description="upstream domain")
    next_path = fields.TextField(description="path and query of the upstream paging.next link")
    updated_at = fields.FloatField(description="epoch seconds")

    class Meta:
        table = "mailgun_relay_cursor"
