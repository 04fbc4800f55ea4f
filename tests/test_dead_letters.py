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


async def test_an_outage_is_retried_with_backoff_and_never_dead_lettered(gateway_factory, caplog):
    """The local queue on SQLite with an injected outage of its lease renewal (the call a worker
    makes after every chunk): the job fails more often than ``job_max_failures``, but transiently,
    so it is retried with backoff and every recipient is delivered once."""
    from postgate import hookimpl
    from postgate.builtin.local_queue import LocalQueue
    from postgate.domain import RecipientStatus
    from postgate.testing.dead_letters import accept_batch, run_workers_until, tracebacks

    outages = MAX_FAILURES + 3

    class FlakyQueue(LocalQueue):
        renewals = 0

        async def extend(self, job):
            FlakyQueue.renewals += 1
            if FlakyQueue.renewals <= outages:
                raise ConnectionResetError(104, "Connection reset by peer")
            await super().extend(job)

    class FlakyPlugin:
        @hookimpl
        def register_queues(self, register):
            register("flaky", FlakyQueue)

    gateway = gateway_factory(plugins=[FlakyPlugin()], backends={"queue": "flaky"},
                              gateway={**FAST, "chunk_size": 1})
    await gateway.start()
    caplog.set_level("INFO", logger="postgate.worker")
    batch_id, _ = await accept_batch(gateway, outages + 2)

    async def delivered() -> bool:
        rows = await gateway.storage.list_recipients(batch_id, 0, 100)
        return all(r.status is RecipientStatus.DELIVERED for r in rows)

    await run_workers_until(gateway, delivered)
    assert await gateway.queue.list_dead() == []
    lines = [r.getMessage() for r in caplog.records if "failed (transient" in r.getMessage()]
    assert len(lines) == outages and all("ConnectionResetError" in line for line in lines)
    assert f"{outages} in a row" in lines[-1]
    assert tracebacks(caplog) == 1
    assert len(list((gateway.settings.data_dir / "outbox").rglob("*.eml"))) == outages + 2


def test_the_dead_jobs_table_escapes_what_a_terminal_would_act_on():
    from postgate.cli import _printable

    assert _printable("boom\x1b[2J\r\nBcc: x\u2028\t") == "boom\\x1b[2J\\r\\nBcc: x\\u2028\\t"
    assert _printable("plain: é ü 1") == "plain: é ü 1"
