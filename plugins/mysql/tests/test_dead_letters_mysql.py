"""A batch that can never be sent, on MariaDB storage with the local queue: dead-lettered with
failed events, listed and retried through the CLI (the scenario of ``postgate.testing``)."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from postgate.cli import cli
from postgate.testing.dead_letters import scenario
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY
from postgate.testing.mariadb import mariadb_url  # noqa: F401 - fixture

MAX_FAILURES = 3


async def test_dead_letters_on_mariadb(mariadb_url, gateway_factory, caplog):  # noqa: F811
    gateway = gateway_factory(
        load_entrypoints=True, load_plugins=["mysql"], backends={"storage": "mysql"},
        plugin_settings={"mysql": {"url": mariadb_url}},
        gateway={"job_max_failures": MAX_FAILURES, "job_backoff": 0.05, "job_backoff_max": 0.2},
    )
    await gateway.start()
    env = {"POSTGATE_DATA_DIR": str(gateway.settings.data_dir), "POSTGATE_DOMAIN": TEST_DOMAIN,
           "POSTGATE_API_KEY": TEST_KEY, "POSTGATE_LOAD_PLUGINS": json.dumps(["mysql"]),
           "POSTGATE_BACKENDS__STORAGE": "mysql", "POSTGATE_PLUGINS__MYSQL__URL": mariadb_url}

    async def run(args: list[str]) -> tuple[int, str]:
        result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)
        return result.exit_code, result.output

    await scenario(gateway, run, caplog, MAX_FAILURES)
