"""Fixtures of the fuzz suites; the helpers are in ``fuzz_harness.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_harness import AppDriver  # noqa: E402


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    """The app on SQLite, driven in-process (one per test module)."""
    made = AppDriver(tmp_path_factory.mktemp("fuzz"))
    yield made
    made.close()
