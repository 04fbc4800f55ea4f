"""Fixtures of the metrics plugin's tests; helpers are in ``metrics_helpers.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics_helpers import TOKEN, TOKEN_ENV  # noqa: E402


@pytest.fixture
def metrics_token(monkeypatch) -> str:
    """The bearer token, set in the environment variable the tests' ``token_env`` names."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN
