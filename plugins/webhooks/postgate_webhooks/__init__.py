"""Postgate plugin: Mailgun-compatible signed webhooks, delivered durably."""

LABEL = "webhooks"
