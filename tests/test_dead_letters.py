"""A bad batch must not wedge the queue: dead letters on SQLite and the local queue, end to end,
plus the failure classification and backoff the worker relies on."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from postgate.cli import cli
from postgate.job_failures import BatchUnreadable, SeenOnce, backoff, describe, failure_kind
from postgate.testing.dead_letters import scenario
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY

MAX_FAILURES = 3
FAST = {"job_max_failures": MAX_FAILURES, "job_backoff": 0.05, "job_backoff_max": 0.2}


def cli_on(env: dict[str, str]):
    async def run(args: list[str]) -> tuple[int, str]:
        result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)
        return result.exit_code, result.output

    return run


async def test_a_batch_that_cannot_be_sent_is_dead_lettered_shown_to_ghost_and_redriven(
        gateway_factory, caplog):
    gateway = gateway_factory(gateway=FAST)
    await gateway.start()
    env = {"POSTGATE_DATA_DIR": str(gateway.settings.data_dir), "POSTGATE_DOMAIN": TEST_DOMAIN,
           "POSTGATE_API_KEY": TEST_KEY}
    await scenario(gateway, cli_on(env), caplog, MAX_FAILURES)


async def test_cli_without_dead_jobs(gateway_factory):
    gateway = gateway_factory()
    await gateway.start()
    run = cli_on({"POSTGATE_DATA_DIR": str(gateway.settings.data_dir)})
    assert await run(["jobs", "dead"]) == (0, "no dead-lettered jobs\n")
    code, output = await run(["jobs", "retry", "12"])
    assert code == 1 and "no dead-lettered job '12'" in output
    code, output = await run(["jobs", "show", "x\n"])
    assert code == 1 and "no dead-lettered job" in output


# -- classification ------------------------------------------------------------------------------


def test_failure_kinds():
    from botocore.exceptions import ClientError, EndpointConnectionError
    from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError

    def client_error(code: str, status: int = 400) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "m"},
                            "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail")

    class DataError(Exception):  # a DB-API driver's data error, as tortoise wraps it on MySQL
        pass

    class Flaky(Exception):
        transient = True

    transient = [ConnectionResetError(), TimeoutError(), asyncio.TimeoutError(), DBConnectionError("down"),
                 OperationalError("database is locked"), EndpointConnectionError(endpoint_url="http://x"),
                 client_error("Throttling"), client_error("Whatever", 503), Flaky()]
    errors = [TypeError("x"), ValueError("x"), KeyError("x"), IntegrityError("dup"),
              OperationalError(DataError("Data too long")), client_error("MessageRejected"), Exception()]
    assert [failure_kind(e) for e in transient] == ["transient"] * len(transient)
    assert [failure_kind(e) for e in errors] == ["error"] * len(errors)
    assert failure_kind(BatchUnreadable("x")) == "permanent"


def test_backoff_doubles_up_to_the_cap():
    assert [backoff(n, 5, 60) for n in range(0, 7)] == [0, 5, 10, 20, 40, 60, 60]
    assert backoff(10_000, 5, 600) == 600
    assert backoff(3, 0, 600) == 0


@pytest.mark.parametrize("text", ["a\r\nBcc: x", "x" * 5000, "\u2028line", ""])
def test_descriptions_are_one_bounded_line(text):
    described = describe(RuntimeError(text))
    assert described.startswith("RuntimeError")
    assert len(described) <= 500 and not any(c in described for c in "\r\n\u2028")


def test_seen_once_is_bounded():
    seen = SeenOnce(size=3)
    assert [seen.first(k) for k in [("a", 1), ("a", 1), ("b", 1)]] == [True, False, True]
    for key in range(10):
        seen.first(("c", key))
    assert seen.first(("a", 1))  # forgotten: the memory stays bounded
    seen.forget("a")
    assert seen.first(("a", 1))
