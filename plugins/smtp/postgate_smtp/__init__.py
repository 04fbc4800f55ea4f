"""Postgate plugin: SMTP delivery through any server, and an SMTP listener for applications."""
