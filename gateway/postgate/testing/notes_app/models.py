"""The example app's one table: notes."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Note(Model):
    """A short text a test writes and reads back."""

    id = fields.BigIntField(primary_key=True)
    body = fields.CharField(max_length=200)
    created_at = fields.FloatField()
    author = fields.CharField(max_length=64, default="", description="added by the second migration")

    class Meta:
        table = "example_notes"
