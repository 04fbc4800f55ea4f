"""The ``suppressions_changed`` hook: called after committed API changes with who and which
request; a failing listener is logged and neither fails the request nor silences the others."""

from __future__ import annotations

import pytest

from postgate import SuppressionChange, hookimpl
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, basic_auth
from postgate.web import create_app

ROOT = f"/v3/{TEST_DOMAIN}"


class Failing:
    @hookimpl
    def suppressions_changed(self, changes):
        raise RuntimeError("listener down")


class Collector:
    def __init__(self) -> None:
        self.changes: list[SuppressionChange] = []
        self.stored_when_told: list[bool] = []

    @hookimpl
    async def suppressions_changed(self, gateway, changes):
        for change in changes:
            found = await gateway.storage.get_suppression(change.domain, change.list, change.address)
            self.stored_when_told.append(found is not None)
        self.changes.extend(changes)


@pytest.fixture
async def setup(gateway_factory):
    collector = Collector()
    gateway = gateway_factory(plugins=[Failing(), collector])
    app = create_app(gateway, background=False)
    async with app.test_app() as test_app:
        yield test_app.test_client(), collector


async def test_changes_reach_listeners_after_commit_despite_a_failing_one(setup, caplog) -> None:
    client, collector = setup
    headers = {**basic_auth(), "X-Request-Id": "req-1"}
    response = await client.post(f"{ROOT}/bounces", form={"address": "a@example.com"}, headers=headers)
    assert response.status_code == 200
    response = await client.delete(f"{ROOT}/bounces/a@example.com", headers={**basic_auth(), "X-Request-Id": "req-2"})
    assert response.status_code == 200
    assert [(c.action, c.domain, c.list, c.address, c.api_key, c.request_id) for c in collector.changes] == [
        ("add", TEST_DOMAIN, "bounces", "a@example.com", TEST_KEY[:8] + "\u2026", "req-1"),
        ("delete", TEST_DOMAIN, "bounces", "a@example.com", TEST_KEY[:8] + "\u2026", "req-2"),
    ]
    assert collector.stored_when_told == [True, False]  # told after the change was committed
    assert "suppressions_changed listener" in caplog.text and "listener down" in caplog.text


async def test_a_refused_change_is_not_reported(setup) -> None:
    client, collector = setup
    response = await client.delete(f"{ROOT}/bounces/nobody@example.com", headers=basic_auth())
    assert response.status_code == 404
    response = await client.post(f"{ROOT}/bounces", form={"address": "no address"}, headers=basic_auth())
    assert response.status_code == 400
    assert collector.changes == []
