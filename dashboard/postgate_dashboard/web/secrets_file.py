"""The dashboard's signing secret: from settings, or made once and kept in the data folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_NAME = "dashboard-secret.key"


def load_or_create_secret(data_dir: Path) -> bytes:
    """The secret in ``data_dir/dashboard-secret.key``, written (mode 0600) on first use."""
    path = Path(data_dir) / FILE_NAME
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return value
