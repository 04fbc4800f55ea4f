"""Fixtures of the end-to-end tests; the harness itself is in ``e2e_harness.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_harness import Harness  # noqa: E402


@pytest.fixture
def e2e(live_server) -> Harness:
    """A live gateway with one background worker, and the harness that drives it."""
    return Harness(live_server())
