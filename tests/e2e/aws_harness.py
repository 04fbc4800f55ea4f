"""The production stack, end to end, against real components (imported by ``test_aws_stack.py``).

One :class:`AwsStack` per test:

- moto's server on a loopback port (the ``aws`` fixture, reset per test) for SES v2, SNS and SQS;
- a :class:`FaultProxy` (``plugins/ses/tests/fault_proxy.py``) in front of moto, used as
  ``[plugins.ses] endpoint_url``: it records every AWS request the SES plugin makes (the
  ``SendEmail`` bodies with their EmailTags and when they happened) and injects faults on demand;
- MariaDB (a database per test module, dropped afterwards) as ``mysql`` storage;
- the gateway API as ``python -m postgate serve --workers 0`` (Hypercorn) and workers as
  ``python -m postgate worker`` processes, all configured by a ``postgate.toml`` written into the
  test's folder plus ``POSTGATE_…`` overrides, ``AWS_ENDPOINT_URL=<moto>`` and dummy credentials.

What the stack did is read from the outside only: moto's stored raw messages
(``/moto-api/data.json``), the ledger in MariaDB, the Mailgun API over HTTP and Ghost's own
mailgun.js client (``tests/node/ghost_mailgun.js`` through :class:`e2e_harness.Harness`).

moto never emits SES events (contract §5.4), so :meth:`AwsStack.record` builds SES event records
shaped like contract §2.5 around each send's real moto ``MessageId`` and the EmailTags the worker
really sent, and :meth:`AwsStack.publish` puts them on the SNS topic (moto fans them out to the
events queue, or signs and POSTs them to ``/ses/sns``). :class:`SendEventPump` plays the
configuration set's SEND event publishing for the crash and fault tests.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import email
import email.policy
import email.utils
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from e2e_harness import ROOT, Harness
from postgate.testing.fixtures import free_port

sys.path.insert(0, str(ROOT / "plugins" / "ses" / "tests"))
from fault_proxy import Fault, FaultProxy  # noqa: E402

__all__ = ["AwsStack", "Fault", "FaultProxy", "Proc", "RawSend", "SendEventPump", "Mysql"]

PYTHON = sys.executable
REGION = "us-east-1"
ACCOUNT = "123456789012"
API_KEY = "key-aws-stack"
SENDER_DOMAIN = "mg.example.com"
CONFIGURATION_SET = "postgate"
TOPIC = "postgate-ses-events"
EVENTS_QUEUE = "postgate-ses-events"
JOBS_QUEUE = "postgate-jobs"
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


# -- MariaDB ---------------------------------------------------------------------------------------


class Mysql:
    """Synchronous access to one test database (asyncmy driven by ``asyncio.run``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urllib.parse.urlparse(url)
        self.connect_args = {
            "host": parts.hostname or "127.0.0.1", "port": parts.port or 3306,
            "user": urllib.parse.unquote(parts.username or "root"),
            "password": urllib.parse.unquote(parts.password or ""),
            "db": parts.path.lstrip("/"),
        }

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        async def run() -> list[tuple[Any, ...]]:
            import asyncmy

            connection = await asyncmy.connect(**self.connect_args, autocommit=True)
            try:
                async with connection.cursor() as cursor:
                    await cursor.execute(sql, tuple(args))
                    return list(await cursor.fetchall())
            finally:
                await connection.ensure_closed()

        return asyncio.run(run())


@dataclass(frozen=True)
class LedgerRow:
    id: int
    batch_id: int
    address: str
    status: str
    provider_id: str | None
    attempts: int


# -- processes -------------------------------------------------------------------------------------


@dataclass
class Proc:
    """A Postgate process started by the stack; its output goes to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL this process (by its own pid): no shutdown, no lease release."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(30)


# -- what moto stored ------------------------------------------------------------------------------


@dataclass
class RawSend:
    """One ``SendEmail`` Raw that moto stored (``/moto-api/data.json`` ``ses.RawMessage``)."""

    ses_id: str
    destinations: list[str]
    raw: str
    message: EmailMessage = field(repr=False)

    @classmethod
    def parse(cls, entry: dict[str, Any]) -> RawSend:
        raw = entry["raw_data"]
        message = email.message_from_string(raw, policy=email.policy.default)
        return cls(entry["id"], list(entry.get("destinations") or []), raw, message)  # type: ignore[arg-type]

    @property
    def to(self) -> str:
        """The bare address of the ``To`` header (what the recipient sees)."""
        return email.utils.parseaddr(str(self.message["To"]))[1]

    def header(self, name: str) -> str | None:
        value = self.message[name]
        return None if value is None else str(value)

    def body(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return "" if part is None else part.get_content()


def iso(moment: float) -> str:
    stamp = dt.datetime.fromtimestamp(moment, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


# -- the stack -------------------------------------------------------------------------------------


class AwsStack:
    """moto + fault proxy + MariaDB + ``postgate serve`` + ``postgate worker`` processes."""

    def __init__(self, aws: Any, db: Mysql, folder: Path, domain: str, **options: Any) -> None:
        self.aws = aws
        self.db = db
        self.folder = folder
        self.domain = domain
        self.options = options
        self.procs: list[Proc] = []
        self.proxies: list[FaultProxy] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proxy = self.new_proxy()
        self.sqs = aws.client("sqs")
        self.sns = aws.client("sns")
        self.sesv2 = aws.client("sesv2")
        self._provision()
        self.config = self._write_config()
        self.harness = Harness(SimpleNamespace(url=self.url))  # type: ignore[arg-type]
        self.harness.domain = domain
        self.harness.key = API_KEY

    # -- AWS side ---------------------------------------------------------------------------

    def new_proxy(self) -> FaultProxy:
        proxy = FaultProxy(self.aws.url).start()
        self.proxies.append(proxy)
        return proxy

    def _provision(self) -> None:
        """What ``postgate aws bootstrap`` would have created, made directly in moto."""
        self.sesv2.create_email_identity(EmailIdentity=SENDER_DOMAIN)
        self.sesv2.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
        visibility = str(self.options.get("visibility_timeout", 10))
        self.jobs_queue = self.sqs.create_queue(QueueName=JOBS_QUEUE,
                                                Attributes={"VisibilityTimeout": visibility})["QueueUrl"]
        self.topic = self.sns.create_topic(Name=TOPIC)["TopicArn"]
        self.events_queue = self.sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.events_queue,
                                            AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if self.options.get("events_queue", True):
            self.sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=arn)

    def _write_config(self) -> Path:
        o = self.options
        ses: dict[str, Any] = {
            "region": REGION,
            "endpoint_url": self.proxy.url,
            "configuration_set": CONFIGURATION_SET,
            "max_send_rate": float(o.get("max_send_rate", 200)),
            "send_threads": 8,
            "read_timeout": 30.0,
            "send_timeout": 30.0,
            "events_wait_seconds": 1,
            "events_visibility_timeout": 5,
            "in_doubt_grace_seconds": float(o.get("in_doubt_grace_seconds", 300)),
            "unmatched_retry_seconds": 120.0,
            "sns_endpoint": bool(o.get("sns_endpoint", False)),
            "sns_topic_arns": [self.topic] if o.get("sns_endpoint") else [],
        }
        if o.get("events_queue", True):
            ses["events_queue_url"] = self.events_queue
        lines = [
            'load_plugins = ["ses", "sqs", "mysql"]',
            f"data_dir = {json.dumps(str(self.folder / 'data'))}",
            "",
            f"[domains.{json.dumps(self.domain)}]",
            f"api_key = {json.dumps(API_KEY)}",
            "",
            "[gateway]",
            f"public_url = {json.dumps(self.url)}",
            'host = "127.0.0.1"',
            f"port = {self.port}",
            "workers = 1",
            f"jobs_per_worker = {int(o.get('jobs_per_worker', 4))}",
            "job_size = 50",
            f"lease_seconds = {float(o.get('lease_seconds', 30))}",
            f"retry_delays = {json.dumps(o.get('retry_delays', [1.0, 2.0, 4.0]))}",
            "migrate_on_start = false",
            "",
            "[backends]",
            'queue = "sqs"',
            'delivery = "ses"',
            'storage = "mysql"',
            'event_sources = ["ses"]',
            "",
            "[plugins.mysql]",
            f"url = {json.dumps(self.db.url)}",
            "maxsize = 5",
            "",
            "[plugins.sqs]",
            f"queue_url = {json.dumps(self.jobs_queue)}",
            f'region = "{REGION}"',
            f"endpoint_url = {json.dumps(self.aws.url)}",
            "wait_seconds = 1",
            f"visibility_timeout = {int(o.get('visibility_timeout', 10))}",
            "",
            "[plugins.ses]",
        ]
        for key, value in ses.items():
            lines.append(f"{key} = {json.dumps(value)}")
        path = self.folder / "postgate.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- processes --------------------------------------------------------------------------

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGATE_", "AWS_"))}
        env.update(DUMMY_AWS)
        env["AWS_ENDPOINT_URL"] = self.aws.url
        env["POSTGATE_CONFIG"] = str(self.config)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(overrides)
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        log = self.folder / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen([PYTHON, "-m", "postgate", *args], stdout=handle, stderr=subprocess.STDOUT,
                                 env=env, cwd=self.folder, start_new_session=True)
        handle.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def migrate(self) -> None:
        done = subprocess.run([PYTHON, "-m", "postgate", "migrate"], env=self.env(), cwd=self.folder,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"postgate migrate failed: {done.stdout}\n{done.stderr}"

    def start_api(self) -> Proc:
        proc = self._spawn("api", ["serve", "--workers", "0"], self.env())
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{self.url}/healthcheck", timeout=2).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            if not proc.alive() or time.monotonic() > deadline:
                pytest.fail(f"postgate serve did not come up:\n{proc.output()[-4000:]}")
            time.sleep(0.1)

    def start_worker(self, name: str = "worker", **env: str) -> Proc:
        proc = self._spawn(name, ["worker", "--workers", "1"], self.env(**env))
        deadline = time.monotonic() + 180
        while "worker running" not in proc.output():
            if not proc.alive() or time.monotonic() > deadline:
                pytest.fail(f"postgate worker {name} did not come up:\n{proc.output()[-4000:]}")
            time.sleep(0.1)
        return proc

    def start(self, workers: int = 1) -> AwsStack:
        self.migrate()
        self.start_api()
        for index in range(workers):
            self.start_worker(f"worker{index}")
        return self

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        for proxy in self.proxies:
            proxy.stop()

    def logs(self) -> str:
        return "\n".join(f"==== {p.name} (pid {p.pid}) ====\n{p.output()[-6000:]}" for p in self.procs)

    # -- observations -----------------------------------------------------------------------

    def raw_sends(self) -> list[RawSend]:
        return [RawSend.parse(entry) for entry in self.aws.raw_messages()]

    def sends_by_recipient(self, sends: list[RawSend] | None = None) -> collections.Counter[str]:
        return collections.Counter(s.to for s in (self.raw_sends() if sends is None else sends))

    def ledger(self) -> list[LedgerRow]:
        rows = self.db.query(
            "SELECT r.id, r.batch_id, r.address, r.status, r.provider_id, r.attempts FROM recipients r "
            "JOIN batches b ON b.id = r.batch_id WHERE b.domain = %s ORDER BY r.id", (self.domain,))
        return [LedgerRow(int(a), int(b), str(c), str(d), e, int(f)) for a, b, c, d, e, f in rows]

    def batch_message_ids(self) -> dict[int, str]:
        rows = self.db.query("SELECT id, message_id FROM batches WHERE domain = %s", (self.domain,))
        return {int(i): str(m) for i, m in rows}

    def send_requests(self, proxy: FaultProxy | None = None) -> list[Any]:
        """Every ``SendEmail`` the proxy saw (``Seen``: request, outcome, status, at)."""
        return (proxy or self.proxy).seen("SendEmail")

    def send_tags(self, proxy: FaultProxy | None = None) -> dict[str, dict[str, str]]:
        """EmailTags of the last ``SendEmail`` per destination address, as the worker sent them."""
        tags = {}
        for seen in self.send_requests(proxy):
            body = seen.request.json()
            for address in seen.request.destinations():
                tags[address] = {t["Name"]: t["Value"] for t in body.get("EmailTags") or []}
        return tags

    def api(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}/v3/{self.domain}{path}", params=params, auth=("api", API_KEY), timeout=60)

    def stored_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every event of the domain through ``GET /v3/<domain>/events`` (ascending, all pages)."""
        begin = time.time() - 3 * 3600
        params: dict[str, Any] = {"begin": f"{begin:.3f}", "ascending": "yes", "limit": 300}
        if kind:
            params["event"] = kind
        response = self.api("/events", **params)
        items: list[dict[str, Any]] = []
        for _ in range(1000):
            assert response.status_code == 200, response.text
            page = response.json()
            if not page["items"]:
                return items
            items.extend(page["items"])
            token = page["paging"]["next"].rsplit("/", 1)[-1]
            response = self.api(f"/events/{token}", **params)
        raise AssertionError("the events API never returned an empty page")

    def wait_for(self, check: Callable[[], Any], *, timeout: float = 120, interval: float = 0.3,
                 what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            dead = [p for p in self.procs if not p.alive() and p.popen.returncode not in (-signal.SIGKILL,)]
            if dead:
                pytest.fail(f"{dead[0].name} exited ({dead[0].popen.returncode}) while waiting for {what}:\n"
                            f"{self.logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{self.logs()}")
            time.sleep(interval)

    def wait_ledger(self, count: int, statuses: Iterable[str] = ("sent",), *, timeout: float = 180) -> list[LedgerRow]:
        wanted = set(statuses)

        def check() -> list[LedgerRow] | None:
            rows = self.ledger()
            done = [r for r in rows if r.status in wanted]
            return rows if len(rows) >= count and len(done) >= count else None

        return self.wait_for(check, timeout=timeout, what=f"{count} ledger row(s) in {sorted(wanted)}")

    def wait_events(self, counts: dict[str, int], *, timeout: float = 180) -> list[dict[str, Any]]:
        def check() -> list[dict[str, Any]] | None:
            events = self.stored_events()
            have = collections.Counter(e["event"] for e in events)
            return events if all(have[k] >= n for k, n in counts.items()) else None

        return self.wait_for(check, timeout=timeout, interval=1.0, what=f"events {counts}")

    # -- SES events (contract §2.5) -----------------------------------------------------------

    def record(self, kind: str, send: RawSend, tags: dict[str, str], *, sent_at: float | None = None,
               at: float | None = None) -> dict[str, Any]:
        """An SES event-publishing record for ``send`` (one recipient), shaped like contract §2.5."""
        address = send.to
        now = time.time()
        at = now - 0.5 if at is None else at
        sent_at = at - 2 if sent_at is None else sent_at
        sender = str(send.message["From"])
        mail: dict[str, Any] = {
            "timestamp": iso(sent_at),
            "source": sender,
            "sourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{SENDER_DOMAIN}",
            "sendingAccountId": ACCOUNT,
            "messageId": send.ses_id,
            "destination": [address],
            "headersTruncated": False,
            "headers": [{"name": name, "value": str(value)} for name, value in send.message.items()
                        if name in ("From", "To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post",
                                    "X-Postgate-Id", "MIME-Version", "Content-Type")],
            "commonHeaders": {"from": [sender], "to": [address], "messageId": send.ses_id,
                              "subject": send.header("Subject") or ""},
            "tags": {
                "ses:operation": ["SendEmail"],
                "ses:configuration-set": [CONFIGURATION_SET],
                "ses:source-ip": ["192.0.2.10"],
                "ses:from-domain": [SENDER_DOMAIN],
                "ses:caller-identity": ["postgate-worker"],
                **{name: [value] for name, value in tags.items()},
            },
        }
        record: dict[str, Any] = {"eventType": kind, "mail": mail}
        if kind == "Send":
            record["send"] = {}
        elif kind == "Delivery":
            mail["tags"]["ses:outgoing-ip"] = ["198.51.100.7"]
            record["delivery"] = {
                "timestamp": iso(at), "processingTimeMillis": int((at - sent_at) * 1000), "recipients": [address],
                "smtpResponse": "250 2.0.0 OK  1715000002 x12si123456qkb.1 - gsmtp",
                "remoteMtaIp": "203.0.113.25", "reportingMTA": "a8-70.smtp-out.amazonses.com",
            }
        elif kind == "Bounce":
            record["bounce"] = {
                "bounceType": "Permanent", "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": "5.1.1",
                                       "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                "timestamp": iso(at), "feedbackId": f"0100018f-{uuid.uuid4()}-000000",
                "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
            }
        elif kind == "Complaint":
            record["complaint"] = {
                "complainedRecipients": [{"emailAddress": address}], "timestamp": iso(at),
                "feedbackId": f"0100018f-{uuid.uuid4()}-000000", "userAgent": "ExampleISP Feedback Loop (V0.01)",
                "complaintFeedbackType": "abuse", "arrivalDate": iso(at - 0.2),
            }
        elif kind == "Open":
            record["open"] = {
                "ipAddress": "192.0.2.1", "timestamp": iso(at),
                "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                             "(KHTML, like Gecko) Mobile/15E148",
            }
        else:
            raise ValueError(kind)
        return record

    def events_queue_depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.events_queue,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def publish(self, records: list[dict[str, Any]], *, max_depth: int = 60, timeout: float = 300) -> None:
        """Publish records (as strings, no Subject) to the topic, 10 per ``PublishBatch``, pausing
        while the events queue is deeper than ``max_depth`` (moto's SQS slows with depth, §5.7)."""
        deadline = time.monotonic() + timeout
        for start in range(0, len(records), 10):
            if start and start % 50 == 0:
                while self.options.get("events_queue", True) and self.events_queue_depth() > max_depth:
                    if time.monotonic() > deadline:
                        pytest.fail(f"the events queue stayed deeper than {max_depth}\n{self.logs()}")
                    time.sleep(0.2)
            entries = [{"Id": str(i), "Message": json.dumps(record)}
                       for i, record in enumerate(records[start:start + 10])]
            response = self.sns.publish_batch(TopicArn=self.topic, PublishBatchRequestEntries=entries)
            assert not response.get("Failed"), response["Failed"]


class SendEventPump:
    """Plays SES's SEND event publishing: every message moto stored for this stack's domain gets a
    ``Send`` record (its moto MessageId, EmailTags ``pg_batch``/``pg_rcpt``/``pg_domain`` from the
    ledger) published to the topic once, a moment after it was stored."""

    def __init__(self, stack: AwsStack, interval: float = 0.5) -> None:
        self.stack = stack
        self.interval = interval
        self.published: dict[str, RawSend] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="send-event-pump", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> SendEventPump:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def tags(self) -> dict[str, dict[str, str]]:
        domain_tag = self.stack.domain.replace(".", "_")
        return {row.address.lower(): {"pg_batch": str(row.batch_id), "pg_rcpt": str(row.id), "pg_domain": domain_tag}
                for row in self.stack.ledger()}

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                fresh = [s for s in self.stack.raw_sends() if s.ses_id not in self.published]
                if fresh:
                    tags = self.tags()
                    records = []
                    for send in fresh:
                        if send.to.lower() in tags:
                            records.append(self.stack.record("Send", send, tags[send.to.lower()], at=time.time()))
                            self.published[send.ses_id] = send
                    if records:
                        self.stack.publish(records)
                self._stop.wait(self.interval)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
