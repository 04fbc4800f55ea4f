"""Postgate plugin: the dashboard. Each part keeps its hooks in its own module; they are
gathered here, where the ``postgate`` entry point finds them."""

from __future__ import annotations

from .web_plugin import *  # noqa: F403 - the web shell's hooks
from .rollups_plugin import *  # noqa: F403 - the roll-ups' hooks
