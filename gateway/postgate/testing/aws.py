"""moto's server on a loopback port as the AWS endpoint for SES, SNS and SQS tests.

Opt in with ``pytest_plugins = ["postgate.testing.aws"]`` (Postgate's root conftest does). Needs
``moto[server]`` and ``boto3``, which plugin test environments install.

- ``moto_server`` (session): a :class:`MotoServer` on ``127.0.0.1:<free port>``.
- ``aws`` (per test): the same server, reset, with dummy credentials and the region in the
  environment so any boto3 client a gateway builds reaches it through ``endpoint_url``.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


class MotoServer:
    """A ThreadedMotoServer with helpers to build clients and read what was "sent"."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def client(self, service: str, **kwargs: Any) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing", **kwargs)

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=30)

    def data(self) -> dict[str, Any]:
        """moto's state as JSON (``["ses"]["RawMessage"]`` holds raw sends, in order)."""
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=60) as response:
            return json.loads(response.read())

    def raw_messages(self) -> list[dict[str, Any]]:
        return self.data().get("ses", {}).get("RawMessage", [])

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def aws(moto_server, monkeypatch):
    """A freshly reset moto server; dummy credentials and region in the environment."""
    moto_server.reset()
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    yield moto_server
