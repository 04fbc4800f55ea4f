"""The roll-up tables, owned by the dashboard plugin (app label ``dashboard``).

Counters are additive: every row is a count of events of one ``kind`` in one slice, so any
period or group is a sum of rows. Times are epoch seconds (UTC).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Count(Model):
    """How many events of one kind fell into one slice: a domain, send, provider or tag, by hour
    and again by day (sends are not split by time: their bucket is 0)."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255)
    dimension = fields.CharField(max_length=12, description="domain, send, provider or tag by hour, or one of the daily ones")
    value = fields.CharField(max_length=255, description="the send key, provider or tag; empty for domain")
    bucket = fields.BigIntField(description="start of the hour (or day), epoch seconds; 0 for sends")
    kind = fields.CharField(max_length=24, description="what was counted: delivered, opened_unique")
    n = fields.BigIntField(default=0)

    class Meta:
        table = "dashboard_counts"
        unique_together = (("domain", "dimension", "value", "bucket", "kind"),)


class Send(Model):
    """One send (a newsletter: Ghost email-id, else the message id) as the sends list shows it."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255)
    send_key = fields.CharField(max_length=255)
    email_id = fields.CharField(max_length=128, null=True)
    subject = fields.CharField(max_length=255, default="", description="from the first event that had one")
    tags = fields.CharField(max_length=1024, default="", description="JSON list, as first seen")
    first_at = fields.BigIntField(description="epoch seconds of its first event")
    last_at = fields.BigIntField(description="epoch seconds of its latest event")

    class Meta:
        table = "dashboard_sends"
        unique_together = (("domain", "send_key"),)
        indexes = (("domain", "first_at", "id"),)


class First(Model):
    """The first open or click of one recipient in one send: what makes unique counts unique.
    Keyed by the digest alone (one B-tree to insert into per first: this table grows with every
    recipient who engages)."""

    digest = fields.CharField(max_length=32, primary_key=True, description="hash of domain, send, recipient and kind")
    domain = fields.CharField(max_length=255)
    event_id = fields.BigIntField(description="the stored event that was first")
    at = fields.BigIntField(description="epoch seconds of that event")

    class Meta:
        table = "dashboard_first_seen"


class LinkCount(Model):
    """Clicks on one link of one send: ``kind`` is ``clicked``, ``clicked_human`` (no bot flag),
    ``clicked_unique`` or ``clicked_unique_human`` (each recipient once per link). The link is
    keyed by a hash of its whole URL; the text kept for showing is bounded."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255)
    send_key = fields.CharField(max_length=255)
    url_key = fields.CharField(max_length=32, description="blake2b-128 of the whole URL, hex")
    url = fields.CharField(max_length=1024, description="the URL, cut to 1024 characters")
    kind = fields.CharField(max_length=24)
    n = fields.BigIntField(default=0)

    class Meta:
        table = "dashboard_links"
        unique_together = (("domain", "send_key", "url_key", "kind"),)
        indexes = (("domain", "send_key", "kind", "n"),)


class Failure(Model):
    """How many failures of one type, SMTP code, enhanced status code and mailbox provider fell into
    one hour (``daily`` false) or one UTC day (``daily`` true): what the bounce explorer groups."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255)
    daily = fields.BooleanField(description="true: a UTC day; false: an hour")
    bucket = fields.BigIntField(description="start of the hour (or day), epoch seconds")
    kind = fields.CharField(max_length=12, description="hard, soft, suppressed or complaint")
    code = fields.CharField(max_length=8, description="delivery-status.code, empty when none")
    enhanced = fields.CharField(max_length=16, description="delivery-status.enhanced-code, empty when none")
    provider = fields.CharField(max_length=32, description="mailbox provider of the recipient")
    n = fields.BigIntField(default=0)

    class Meta:
        table = "dashboard_failures"
        unique_together = (("domain", "daily", "bucket", "kind", "code", "enhanced", "provider"),)


class MxRecord(Model):
    """The mailbox provider found from the MX hosts of one recipient domain, kept until ``expires_at``
    (a shorter while when the look-up failed or found no provider: the negative cache)."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255, unique=True, description="recipient domain, lower case")
    provider = fields.CharField(max_length=32, description="provider key, other when none was recognised")
    hosts = fields.CharField(max_length=512, description="MX hosts by preference, comma separated, cut")
    failed = fields.BooleanField(default=False, description="true when no answer came (time-out, server failure)")
    checked_at = fields.BigIntField(description="epoch seconds of the look-up")
    expires_at = fields.BigIntField(description="epoch seconds after which it is looked up again")

    class Meta:
        table = "dashboard_mx"


class WorkerBeat(Model):
    """The latest heartbeat of one worker loop (see the ``worker_heartbeat`` hook)."""

    id = fields.BigIntField(primary_key=True)
    owner = fields.CharField(max_length=255, unique=True, description="loop name at host:pid:token")
    host = fields.CharField(max_length=255)
    pid = fields.IntField()
    started_at = fields.BigIntField(description="epoch seconds of its first heartbeat")
    seen_at = fields.BigIntField(description="epoch seconds of its latest heartbeat")

    class Meta:
        table = "dashboard_workers"
        indexes = (("seen_at",),)


class EventPoll(Model):
    """When a client (Ghost) last read the events of one sending domain, as any gateway process saw it."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255, unique=True, description="sending domain, lower case")
    polled_at = fields.BigIntField(description="epoch seconds of the latest events read noted")
    user_agent = fields.CharField(max_length=200, description="User-Agent of the reader, cut")

    class Meta:
        table = "dashboard_event_polls"


class ProgressSample(Model):
    """How far one send going out had got in one sample slot: what its progress curve draws."""

    id = fields.BigIntField(primary_key=True)
    domain = fields.CharField(max_length=255)
    send_key = fields.CharField(max_length=255, description="Ghost email-id of the send")
    at = fields.BigIntField(description="start of the sample slot, epoch seconds")
    started_at = fields.BigIntField(description="epoch seconds the first batch of the send was accepted")
    total = fields.BigIntField(description="recipients of the send")
    done = fields.BigIntField(description="recipients handled (sent, failed or dropped)")
    failed = fields.BigIntField(description="recipients whose delivery failed")
    delivered = fields.BigIntField(description="delivered events of the send counted so far")

    class Meta:
        table = "dashboard_send_progress"
        unique_together = (("domain", "send_key", "at"),)
        indexes = (("at",),)
