"""Helpers of the fuzz suites (imported by ``conftest.py`` and the test modules): an in-process
client for generated requests and the check that fails a test on any 5xx."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postgate.app import Gateway
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth, make_settings
from postgate.web import create_app

OTHER_DOMAIN = "other.example.com"
OTHER_KEY = "key-other"


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any
    text: str


class AppDriver:
    """A gateway app driven in-process on its own event loop, from synchronous hypothesis tests."""

    def __init__(self, data_dir: Path, plugins: tuple[object, ...] = (), **overrides: Any) -> None:
        settings = make_settings(data_dir, domains={OTHER_DOMAIN: {"api_key": OTHER_KEY}}, **overrides)
        self.gateway = Gateway(settings, plugins=plugins, load_entrypoints=False)
        self.app = create_app(self.gateway, background=False)
        self.loop = asyncio.new_event_loop()
        self._context = self.app.test_app()
        self.loop.run_until_complete(self._context.__aenter__())
        self.client = self._context.test_client()

    def request(self, method: str, path: str, *, auth: bool | dict[str, str] = True,
                headers: dict[str, str] | None = None, **kwargs: Any) -> Reply:
        sent = dict(basic_auth() if auth is True else auth or {})
        sent.update(headers or {})
        response = self.loop.run_until_complete(
            getattr(self.client, method)(path, headers=sent, **kwargs))
        text = self.loop.run_until_complete(response.get_data(as_text=True))
        try:
            body = self.loop.run_until_complete(response.get_json(force=True, silent=True))
        except Exception:  # noqa: BLE001 - the assertion below says what was wrong
            body = None
        return Reply(response.status_code, body, response.headers, text)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.loop.run_until_complete(self._context.__aexit__(None, None, None))
        self.loop.close()


def assert_mailgun_answer(reply: Reply, what: str = "") -> None:
    """Never a 5xx; every API error is Mailgun's ``{"message": "..."}`` (401 is plain ``Forbidden``)."""
    assert reply.status < 500, f"{what}: server error {reply.status}: {reply.text[:300]}"
    if reply.status == 401:
        assert reply.text == "Forbidden", what
    elif reply.status >= 400:
        assert isinstance(reply.body, dict) and isinstance(reply.body.get("message"), str), (
            f"{what}: {reply.status} without Mailgun's error shape: {reply.text[:300]}")


__all__ = ["TEST_DOMAIN", "AppDriver", "Reply", "assert_mailgun_answer"]
