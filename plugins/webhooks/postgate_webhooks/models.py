"""The plugin's tables (``register_models``): subscriptions, signing keys, the outbound queue
and the attempts log."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Subscription(Model):
    """One URL of one webhook of one sending domain (a webhook holds up to 3)."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255)
    webhook = fields.CharField(max_length=32, description="accepted, delivered, permanent_fail and so on")
    url = fields.CharField(max_length=2048)
    position = fields.IntField(default=0, description="order of the URL within its webhook")
    created_at = fields.FloatField(description="epoch seconds")

    class Meta:
        table = "webhooks_subscriptions"
        indexes = (("domain", "webhook"),)


class SigningKey(Model):
    """The HTTP signing key of one account (the domains that share an API key)."""

    account = fields.CharField(max_length=255, primary_key=True, description="first domain of the account")
    key = fields.CharField(max_length=128)
    created_at = fields.FloatField(description="epoch seconds")

    class Meta:
        table = "webhooks_signing_keys"


class Delivery(Model):
    """One event to POST to one URL, until it is delivered, refused (406) or given up."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255)
    webhook = fields.CharField(max_length=32)
    url = fields.CharField(max_length=2048)
    event_id = fields.CharField(max_length=64, description="the event id, for receivers to de-duplicate")
    event_data = fields.TextField(description="the event as the events API returns it, in JSON")
    status = fields.CharField(max_length=16, default="pending", description="pending, delivered, rejected or failed")
    attempts = fields.IntField(default=0)
    enqueued_at = fields.FloatField(description="epoch seconds")
    next_at = fields.FloatField(description="epoch seconds: due from then")
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.FloatField(null=True)
    last_status = fields.IntField(null=True, description="HTTP status of the last attempt")
    last_error = fields.CharField(max_length=255, default="")
    finished_at = fields.FloatField(null=True)

    class Meta:
        table = "webhooks_deliveries"
        indexes = (("status", "next_at"), ("finished_at",))


class Attempt(Model):
    """One POST made (or refused before it was made), for the operator log: a delivery's attempt,
    or (``test``) the sample POST of ``PUT /v3/domains/<name>/webhooks/<webhook>/test``."""

    id = fields.BigIntField(primary_key=True)
    delivery_id = fields.BigIntField()
    at = fields.FloatField(description="epoch seconds")
    domain = fields.CharField(max_length=255)
    webhook = fields.CharField(max_length=32)
    url = fields.CharField(max_length=2048)
    event_id = fields.CharField(max_length=64)
    status_code = fields.IntField(null=True, description="none when no HTTP answer came")
    outcome = fields.CharField(max_length=16, description="delivered, retry, rejected, failed or refused")
    error = fields.CharField(max_length=255, default="")
    duration_ms = fields.FloatField(null=True, description="milliseconds from the start of the POST to its answer "
                                    "or failure; none when no POST was made")
    test = fields.BooleanField(default=False, description="a sample POST of the test route, not a delivery "
                               "(delivery_id is 0)")

    class Meta:
        table = "webhooks_attempts"
        # (url, at, id): the log filtered by a URL, in page order (on MySQL a prefix of the URL).
        indexes = (("domain", "at"), ("at",), ("url", "at", "id"))
