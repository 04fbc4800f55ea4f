"""Tortoise-orm models: the one schema every Tortoise-based storage shares.

The models define tables, columns and indexes for aerich, which keeps one migration history per
dialect. :class:`~postgate.storage.tortoise_storage.TortoiseStorage` queries these tables with
plain SQL through the context's connection (see its module docstring for why). Times are float
epoch seconds, except ``events.recorded_at`` (integer microseconds, holding whole seconds).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class BatchRow(Model):
    """An accepted API call: its content stored once (zlib-compressed) for all recipients."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255)
    message_id = fields.CharField(max_length=255)
    response_id = fields.CharField(max_length=512)
    email_id = fields.CharField(max_length=128, null=True)
    idempotency_key = fields.CharField(max_length=255, null=True)
    tags = fields.JSONField(default=list)
    content = fields.BinaryField()
    testmode = fields.BooleanField(default=False)
    deliver_at = fields.FloatField(null=True)
    created_at = fields.FloatField()
    enqueued = fields.BooleanField(default=False)
    accepted_logged = fields.BooleanField(default=False)
    recipient_count = fields.IntField(default=0)

    class Meta:
        table = "batches"
        unique_together = (("domain", "idempotency_key"),)
        indexes = (("enqueued", "created_at"), ("created_at",))


class RecipientRow(Model):
    """One ledger row: a recipient of a batch and where its delivery stands."""

    id = fields.BigIntField(primary_key=True)
    batch_id = fields.BigIntField()
    domain = fields.CharField(max_length=255)
    email_id = fields.CharField(max_length=128, null=True)
    address = fields.CharField(max_length=320)
    name = fields.CharField(max_length=255, null=True)
    message_id = fields.CharField(max_length=255)
    variables = fields.JSONField(default=dict)
    status = fields.CharField(max_length=16)
    attempts = fields.IntField(default=0)
    lease_owner = fields.CharField(max_length=128, null=True)
    lease_until = fields.FloatField(null=True)
    next_attempt_at = fields.FloatField(null=True)
    provider_id = fields.CharField(max_length=255, null=True)
    error = fields.TextField(null=True)
    finished_at = fields.FloatField(null=True)  # when the row became terminal (progress rates)

    class Meta:
        table = "recipients"
        unique_together = (("domain", "email_id", "address"),)
        # (status, finished_at, batch_id) finds the batches in flight or just finished (see
        # ``batch_progress``) without scanning the ledger.
        indexes = (("batch_id", "status", "id"), ("batch_id", "id"), ("provider_id",),
                   ("status", "finished_at", "batch_id"))


class EventRow(Model):
    """A stored Mailgun event; paged by the keyset ``(recorded_at, id)`` within a domain."""

    id = fields.BigIntField(primary_key=True)
    event_id = fields.CharField(max_length=22)
    domain = fields.CharField(max_length=255)
    recorded_at = fields.BigIntField()
    event = fields.CharField(max_length=32)
    recipient = fields.CharField(max_length=320, null=True)
    # address_key(recipient): what the `recipient` filter compares (binary collation on MySQL).
    recipient_key = fields.CharField(max_length=320, null=True)
    message_id = fields.CharField(max_length=255, null=True)
    email_id = fields.CharField(max_length=128, null=True)
    tags = fields.JSONField(default=list)
    tags_search = fields.CharField(max_length=1024, default="")
    severity = fields.CharField(max_length=16, null=True)
    reason = fields.CharField(max_length=64, null=True)
    event_key = fields.CharField(max_length=255, null=True, unique=True)
    payload = fields.TextField()
    # True: ``payload`` is the compact JSON the events API splices into a page as it is (see
    # postgate.event_json); false for rows stored before it and payloads that cannot be spliced.
    payload_canonical = fields.BooleanField(default=False)

    class Meta:
        table = "events"
        # Pages in time order: all of a domain, or one recipient's / one message's events.
        indexes = (
            ("domain", "recorded_at", "id"),
            ("domain", "recipient_key", "recorded_at", "id"),
            ("domain", "message_id", "recorded_at", "id"),
        )


class SuppressionRow(Model):
    """An entry of a suppression list; ``address_key`` is the lowercased lookup key."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255)
    list_name = fields.CharField(max_length=16)
    address = fields.CharField(max_length=320)
    address_key = fields.CharField(max_length=320)
    code = fields.IntField(null=True)
    error = fields.TextField()
    tags = fields.JSONField(default=list)
    kind = fields.CharField(max_length=16, default="address")
    reason = fields.TextField()
    created_at = fields.FloatField()

    class Meta:
        table = "suppressions"
        unique_together = (("domain", "list_name", "address_key"),)


class TagRow(Model):
    """A tag seen on accepted mail."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255)
    tag = fields.CharField(max_length=255)
    description = fields.TextField()
    first_seen = fields.FloatField()
    last_seen = fields.FloatField()

    class Meta:
        table = "tags"
        unique_together = (("domain", "tag"),)


class QueueJobRow(Model):
    """A job of the local queue, leased by workers; ``dead_at`` set means dead-lettered."""

    id = fields.BigIntField(primary_key=True)
    queue = fields.CharField(max_length=64)
    batch_id = fields.BigIntField()
    first_id = fields.BigIntField(null=True)
    last_id = fields.BigIntField(null=True)
    available_at = fields.FloatField()
    lease_owner = fields.CharField(max_length=128, null=True)
    lease_until = fields.FloatField(null=True)
    attempts = fields.IntField(default=0)
    created_at = fields.FloatField()
    failures = fields.IntField(default=0)
    error = fields.TextField(null=True)
    dead_at = fields.FloatField(null=True)

    class Meta:
        table = "queue_jobs"
        indexes = (("queue", "available_at", "id"), ("queue", "dead_at"))


class RateBucketRow(Model):
    """A token bucket shared by every worker (on MySQL also the lock row of event writers)."""

    name = fields.CharField(max_length=128, primary_key=True)
    tokens = fields.FloatField()
    updated_at = fields.FloatField()

    class Meta:
        table = "rate_buckets"


class RateGrantRow(Model):
    """Sends granted from a shared rate, counted until a window after they were made."""

    id = fields.BigIntField(primary_key=True)
    bucket = fields.CharField(max_length=128, db_index=True)
    sends = fields.IntField()
    granted_at = fields.FloatField()
    released_at = fields.FloatField(null=True)

    class Meta:
        table = "rate_grants"
