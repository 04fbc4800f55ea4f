"""Fixtures of the mailgun relay's tests: an upstream Postgate acting as Mailgun, and a Postgate
that delivers through it (``relay``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from relay_helpers import KEY_ENV, UPSTREAM_KEY  # noqa: E402


@pytest.fixture
def upstream_key(monkeypatch) -> str:
    monkeypatch.setenv(KEY_ENV, UPSTREAM_KEY)
    return UPSTREAM_KEY
