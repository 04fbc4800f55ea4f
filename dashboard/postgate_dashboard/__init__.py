"""Postgate plugin: the dashboard (analytics and operations) under ``/dashboard/``."""

from .web_plugin import register_commands, register_models, register_routes, register_settings, shutdown, startup

__all__ = ["register_commands", "register_models", "register_routes", "register_settings", "shutdown", "startup"]
