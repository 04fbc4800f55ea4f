"""Fixtures: a started gateway with the dashboard on SQLite and on MariaDB, and Debian's chromium
driven by playwright (no downloaded browser builds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import postgate_dashboard
import postgate_mysql
from postgate.testing.mariadb import temporary_database

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts" / "screenshots"


@pytest.fixture(params=["sqlite", "mysql"])
async def gateway(request, gateway_factory):
    """A started gateway with the dashboard, once on SQLite and once on MariaDB."""
    if request.param == "sqlite":
        gw = gateway_factory(plugins=[postgate_dashboard])
        await gw.start()
        yield gw
        return
    async with temporary_database() as url:
        gw = gateway_factory(plugins=[postgate_mysql, postgate_dashboard], backends={"storage": "mysql"},
                             plugin_settings={"mysql": {"url": url}})
        await gw.start()
        yield gw
        await gw.stop()  # before the database is dropped


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # A missing browser fails the run: these tests are the dashboard's proof, not optional.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
