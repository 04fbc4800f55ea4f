"""Postgate plugin: deliver through a Mailgun account and read its events back."""
