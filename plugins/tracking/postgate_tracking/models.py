"""The tracking tables, owned by this plugin (``register_models``)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class TrackedLink(Model):
    """A link of a batch as it was in the message (HTML-unescaped), by its index."""

    id = fields.BigIntField(primary_key=True)
    batch_id = fields.BigIntField()
    link_index = fields.IntField()
    url = fields.TextField()

    class Meta:
        table = "tracking_links"
        unique_together = (("batch_id", "link_index"),)


class TrackingHit(Model):
    """One GET of a pixel or tracked link, kept whether or not it became an event."""

    id = fields.BigIntField(primary_key=True)
    at = fields.FloatField(description="epoch seconds")
    kind = fields.CharField(max_length=8, description="open or click")
    domain = fields.CharField(max_length=255)
    batch_id = fields.BigIntField()
    recipient_id = fields.BigIntField()
    link_index = fields.IntField(null=True)
    ip = fields.CharField(max_length=64, null=True, description="per the ip privacy setting")
    user_agent = fields.CharField(max_length=512, default="")
    bot = fields.CharField(max_length=16, default="", description="empty, apple, gmail or generic")
    rule = fields.CharField(max_length=64, default="", description="the machine rule that fired")
    recorded = fields.BooleanField(description="whether it became an event of the events API")

    class Meta:
        table = "tracking_hits"
        indexes = (("batch_id", "recipient_id"), ("at",))


class TrackingDomain(Model):
    """The tracking switches of a sending domain as last set through the Mailgun API
    (PUT /v3/domains/NAME/tracking/KIND); None leaves a switch to the settings file."""

    domain = fields.CharField(max_length=255, primary_key=True)
    opens = fields.BooleanField(null=True)
    pixel_top = fields.BooleanField(null=True, description="open pixel at the top of the HTML")
    clicks = fields.CharField(max_length=8, null=True, description="yes, no or htmlonly")
    unsubscribe = fields.BooleanField(null=True, description="signed unsubscribe links filled in")
    updated_at = fields.FloatField(description="epoch seconds")

    class Meta:
        table = "tracking_domains"
