"""Logs: console and JSON formats, request ids on every record of a request, one access line per
request (with the query string, never a header), and the operational lines of the ``oplog``
built-in (batch accepted, chunk sent, permanent failure, provider throttle or pause)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from quart import Blueprint

from postgate.builtin.oplog import mask_addresses
from postgate.domain import Message
from postgate.hookspecs import hookimpl
from postgate.logs import (
    QUIET_LOGGERS,
    REQUEST_ID,
    ConsoleFormatter,
    JsonLinesFormatter,
    RequestIdFilter,
    configure_logging,
)
from postgate.settings import ConfigError, load_settings
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY
from postgate.worker import Worker

SIM = "simulator.amazonses.com"


class Captured:
    """Records written through a handler set up like ``postgate serve``'s (JSON, request ids)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def of(self, logger: str, message: str | None = None) -> list[dict]:
        return [r for r in self.lines() if r["logger"] == logger and (message is None or r["message"] == message)]


@pytest.fixture
def captured() -> Iterator[Captured]:
    capture = Captured()
    handler = logging.StreamHandler(capture.stream)
    handler.setFormatter(JsonLinesFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield capture
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put the root logger and the quieted libraries back as they were after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)
    logging.captureWarnings(False)


def record(message: str, **fields) -> logging.LogRecord:
    made = logging.LogRecord("postgate.test", logging.INFO, __file__, 1, message, None, None)
    for key, value in fields.items():
        setattr(made, key, value)
    return made


# -- formats --------------------------------------------------------------------------------------


def test_json_lines_carry_time_level_logger_message_then_the_fields():
    line = JsonLinesFormatter().format(record("batch accepted", domain="mg.example.com", recipients=3))
    parsed = json.loads(line)
    assert list(parsed)[:4] == ["ts", "level", "logger", "message"]
    assert parsed["level"] == "INFO" and parsed["logger"] == "postgate.test"
    assert parsed["message"] == "batch accepted"
    assert parsed["domain"] == "mg.example.com" and parsed["recipients"] == 3
    assert parsed["ts"].endswith("+00:00")


def test_console_lines_keep_client_text_on_one_line_and_quoted():
    hostile = '/v3/x/events?begin=1 status=200 "x"\nFAKE LINE\x85\u2028'
    line = ConsoleFormatter().format(record("request", path=hostile, status=404, duration_ms=1.25))
    assert "\n" not in line and "\x85" not in line and "\u2028" not in line
    assert line.endswith('status=404 duration_ms=1.25')
    quoted = line.split(" path=", 1)[1].rsplit(" status=404", 1)[0]
    assert json.loads(quoted) == hostile
    plain = ConsoleFormatter().format(record("chunk sent", domain="mg.example.com", failed=0))
    assert plain.endswith("postgate.test: chunk sent domain=mg.example.com failed=0")


def test_request_id_is_added_while_a_request_is_handled_only():
    stamp = RequestIdFilter()
    outside = record("x")
    stamp.filter(outside)
    assert not hasattr(outside, "request_id")
    token = REQUEST_ID.set("req-123")
    try:
        inside = record("x")
        stamp.filter(inside)
        assert inside.request_id == "req-123"
    finally:
        REQUEST_ID.reset(token)


def test_debug_level_never_opens_the_orm_or_aws_libraries(restored_logging):
    stream = io.StringIO()
    configure_logging("console", "debug", stream=stream)
    logging.getLogger("postgate.test").debug("our own debug line")
    logging.getLogger("tortoise.db_client").debug("INSERT INTO batch ... 'the message body'")
    logging.getLogger("tortoise").info("Tortoise-ORM shutdown")
    logging.getLogger("botocore.endpoint").debug("Sending http request: body=...")
    logging.getLogger("tortoise").warning("a real ORM problem")
    text = stream.getvalue()
    assert "our own debug line" in text
    assert "message body" not in text and "Tortoise-ORM shutdown" not in text and "Sending http" not in text
    assert "a real ORM problem" in text


def test_log_settings_from_file_and_environment(tmp_path, monkeypatch):
    config = tmp_path / "postgate.toml"
    config.write_text('log_format = "json"\nlog_level = "WARNING"\n')
    settings = load_settings(config)
    assert (settings.log_format, settings.log_level) == ("json", "warning")
    monkeypatch.setenv("POSTGATE_LOG_FORMAT", "console")
    assert load_settings(config).log_format == "console"
    monkeypatch.setenv("POSTGATE_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="POSTGATE_LOG_FORMAT"):
        load_settings(config)


# -- operational lines -------------------------------------------------------------------------


def test_addresses_in_a_reason_keep_one_character_of_their_local_part():
    reason = "MessageRejected: Email address is not verified: jane.doe@example.com, <bob@mg.example.org>."
    assert mask_addresses(reason) == ("MessageRejected: Email address is not verified: j***@example.com, "
                                      "<b***@mg.example.org>.")
    assert mask_addresses("550 5.1.1 mailbox does not exist") == "550 5.1.1 mailbox does not exist"


async def drain(gateway, timeout: float = 30.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(gateway, "w").run(stop))
    deadline = time.monotonic() + timeout
    try:
        while await gateway.queue.depth():
            assert time.monotonic() < deadline, "the queue did not drain"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_a_batch_logs_accepted_chunks_and_each_permanent_failure(gateway_factory, captured):
    gateway = gateway_factory(gateway={"chunk_size": 2, "retry_delays": [0.2]})
    await gateway.start()
    addresses = [f"success@{SIM}", f"bounce@{SIM}", "jane.doe@example.com"]
    message_id = await gateway.accept(Message(
        domain=TEST_DOMAIN, sender="Blog <noreply@mg.example.com>", to=addresses, subject="Hi",
        text="THE-BODY-NEVER-LOGGED", recipient_variables={a: {} for a in addresses},
        variables={"email-id": "ghost-email-1"}))
    await drain(gateway)

    accepted, = captured.of("postgate.ops", "batch accepted")
    assert accepted["domain"] == TEST_DOMAIN and accepted["recipients"] == 3
    assert accepted["message_id"] == message_id and accepted["email_id"] == "ghost-email-1"
    chunks = captured.of("postgate.ops", "chunk sent")
    assert len(chunks) == 2 and {c["message_id"] for c in chunks} == {message_id}
    assert sum(c["recipients"] for c in chunks) == 3
    assert sum(c["delivered"] for c in chunks) == 2 and sum(c["failed"] for c in chunks) == 1
    assert all(c["delivery"] == "outbox" and c["duration_ms"] >= 0 for c in chunks)
    failure, = captured.of("postgate.ops", "permanent failure")
    assert failure["level"] == "WARNING" and failure["reason"].startswith("550")
    rows = await gateway.storage.list_recipients(chunks[0]["batch_id"], 0, 10)
    bounced, = [row for row in rows if row.address == f"bounce@{SIM}"]
    assert failure["recipient_id"] == bounced.id and failure["batch_id"] == bounced.batch_id
    text = captured.stream.getvalue()
    assert "THE-BODY-NEVER-LOGGED" not in text
    assert not any(address in text for address in addresses)


def test_throttles_and_pauses_are_one_line_each_at_their_level(gateway_factory, captured):
    gateway = gateway_factory()
    gateway.report_delivery_state("throttled", "Maximum sending rate exceeded; rate lowered to 7.00/s")
    gateway.report_delivery_state("paused", "daily-quota: quota of ops@example.com reached", 900.0)
    gateway.report_delivery_state("resumed", "the daily quota has room again")
    lines = captured.of("postgate.ops")
    assert [(r["message"], r["level"]) for r in lines] == [
        ("delivery throttled", "WARNING"), ("delivery paused", "ERROR"), ("delivery resumed", "INFO")]
    assert all(r["delivery"] == "outbox" for r in lines)
    assert lines[1]["seconds"] == 900.0 and "seconds" not in lines[0]
    assert lines[1]["reason"] == "daily-quota: quota of o***@example.com reached"


def test_the_oplog_builtin_can_be_turned_off(gateway_factory, captured):
    gateway = gateway_factory(disable_plugins=["oplog"])
    gateway.report_delivery_state("paused", "sending paused", 60.0)
    assert captured.of("postgate.ops") == []


# -- access lines ----------------------------------------------------------------------------


class Failing:
    """A plugin route that raises, to see the access line of an unhandled error."""

    @hookimpl
    def register_routes(self):
        blueprint = Blueprint("failing", __name__)

        @blueprint.get("/boom")
        async def boom():
            raise RuntimeError("a bug")

        return [blueprint]


def access_lines(captured: Captured, count: int) -> list[dict]:
    """The access lines, once ``count`` are there: each is written just after its response went
    out, so the client may read the answer a moment before the line exists."""
    deadline = time.monotonic() + 10
    while len(lines := captured.of("postgate.access", "request")) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return lines


def test_every_request_gets_one_access_line_with_its_query_and_request_id(live_server, captured):
    server = live_server(plugins=[Failing()], background=False)
    auth = ("api", TEST_KEY)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        probed = client.get("/health/ready")  # a probe's 2xx is a DEBUG line, below this capture
        paged = client.get(f"/v3/{TEST_DOMAIN}/events", auth=auth, headers={"X-Request-Id": "ghost-page-1"},
                           params={"begin": "1764000000", "end": "1764900000", "ascending": "yes", "limit": "300"})
        sent = client.post(f"/v3/{TEST_DOMAIN}/messages", auth=auth, data={
            "from": "a@mg.example.com", "to": "b@example.com", "subject": "s", "text": "t"})
        refused = client.get(f"/v3/{TEST_DOMAIN}/events", auth=("api", "key-WRONG-never-logged"))
        crashed = client.get("/boom")
    assert (paged.status_code, sent.status_code, refused.status_code, crashed.status_code) == (200, 200, 401, 500)
    assert probed.status_code == 200

    access = access_lines(captured, 4)
    assert not [r for r in access if r["path"] == "/health/ready"]
    assert len(access) == 4, captured.stream.getvalue()
    page, = [r for r in access if r["path"].startswith(f"/v3/{TEST_DOMAIN}/events?")]
    post, = [r for r in access if r["method"] == "POST"]
    denied, = [r for r in access if r["path"] == f"/v3/{TEST_DOMAIN}/events"]
    boom, = [r for r in access if r["path"] == "/boom"]
    assert page["method"] == "GET" and page["status"] == 200 and page["request_id"] == "ghost-page-1"
    assert page["path"] == (f"/v3/{TEST_DOMAIN}/events?begin=1764000000&end=1764900000&ascending=yes&limit=300")
    assert page["duration_ms"] >= 0 and page["bytes"] > 0 and page["remote"] == "127.0.0.1"
    assert post["request_id"] == sent.headers["X-Request-Id"]
    accepted, = captured.of("postgate.ops", "batch accepted")
    assert accepted["request_id"] == post["request_id"]  # the request id ties the two lines
    assert denied["status"] == 401 and boom["status"] == 500
    unhandled, = captured.of("postgate.web")
    assert unhandled["request_id"] == boom["request_id"] == crashed.json()["request_id"]
    text = captured.stream.getvalue()
    assert "key-WRONG-never-logged" not in text and TEST_KEY not in text
    assert "Authorization" not in text and "Basic " not in text
