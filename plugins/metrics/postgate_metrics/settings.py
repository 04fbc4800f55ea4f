"""The ``[plugins.metrics]`` table: where ``/metrics`` is served and how processes share counts."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: ``host:port`` or ``[v6 address]:port``; port 0 picks a free one (tests).
_LISTEN = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]\s]+)):(?P<port>\d{1,5})$")


def split_listen(value: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` as ``("127.0.0.1", 9464)``; ``"[::1]:9464"`` as ``("::1", 9464)``."""
    found = _LISTEN.match(value.strip())
    if not found or int(found["port"]) > 65535:
        raise ValueError(f"listen must be host:port (e.g. 127.0.0.1:9464), not {value!r}")
    return found["v6"] or found["host"], int(found["port"])


class MetricsSettings(BaseModel):
    """Settings of the metrics plugin (``POSTGATE_PLUGINS__METRICS__<KEY>`` in the environment)."""

    model_config = ConfigDict(extra="forbid")

    listen: str = Field(
        "127.0.0.1:9464",
        description="host:port of a separate listener serving only /metrics, started by the process "
        "that serves the API; keep it off the public network; empty: no separate listener",
    )
    token_env: str | None = Field(
        None,
        description="name of an environment variable holding a bearer token; when set, /metrics is also "
        "served on the public listener and answers only 'Authorization: Bearer <token>'",
    )
    multiprocess_dir: Path | None = Field(
        None,
        description="folder shared by the API and every `postgate worker` process (one host or one "
        "shared volume); each process writes its counts there and /metrics adds them up",
    )

    @field_validator("listen")
    @classmethod
    def _valid_listen(cls, value: str) -> str:
        if value.strip():
            split_listen(value)
        return value.strip()

    @field_validator("token_env")
    @classmethod
    def _token_is_set(cls, value: str | None) -> str | None:
        if value is not None and not os.environ.get(value, "").strip():
            raise ValueError(f"token_env names {value!r}, but that environment variable is not set or empty; "
                             "set it to a long random token, or remove token_env")
        return value

    @model_validator(mode="after")
    def _served_somewhere(self) -> MetricsSettings:
        if not self.listen and self.token_env is None:
            raise ValueError("/metrics would be served nowhere: set listen (a separate listener, e.g. "
                             "\"127.0.0.1:9464\") and/or token_env (the public listener, behind a bearer token)")
        return self

    def listen_address(self) -> tuple[str, int] | None:
        """Host and port of the separate listener, or ``None`` when there is none."""
        return split_listen(self.listen) if self.listen else None

    def token(self) -> str | None:
        """The bearer token from the environment, or ``None`` when ``/metrics`` is not public."""
        return os.environ[self.token_env].strip() if self.token_env else None
