"""The audit trail's table, owned by this plugin (``register_models``)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AuditEntry(Model):
    """One suppression change made through the API: who (masked key, request id), what, when."""

    id = fields.BigIntField(primary_key=True)
    at = fields.FloatField(description="epoch seconds")
    action = fields.CharField(max_length=16, description="add, import, delete, untag or clear")
    domain = fields.CharField(max_length=255)
    list_name = fields.CharField(max_length=32)
    address = fields.CharField(max_length=320, null=True, description="none for clear")
    api_key = fields.CharField(max_length=32, description="the caller API key, masked")
    request_id = fields.CharField(max_length=128)
    detail = fields.CharField(max_length=255, default="", description="untag: the tag")

    class Meta:
        table = "suppression_audit"
        indexes = (("domain", "at"), ("at",))
