"""Deployment tests (container, compose, systemd); the helpers are in ``deploy_harness.py``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
