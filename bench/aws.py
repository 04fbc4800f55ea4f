"""``python -m bench --only aws``: the SQS → SES pipeline and SES event ingestion, against moto.

moto's server runs as its own process on a loopback port (so it does not share the bench's GIL);
the gateway is a :class:`~postgate.testing.fixtures.LiveServer` (Hypercorn in a thread) with one
in-process worker loop, ``sqlite`` storage, the ``sqs`` queue and the ``ses`` delivery.

(a) **pipeline**: recipients/s from the first byte of a Ghost batch POST until every ledger row
    of it is ``sent`` (SES answered with a MessageId): accept → SQS jobs (50 rows each) → worker →
    render → ``sesv2.send_email`` Raw, ``max_send_rate`` far above what moto can take.
(b) **bare boto3**: the same ``sesv2.send_email`` calls — the very MIME bytes Postgate rendered in
    (a), same destinations, EmailTags and configuration set, from a client built by the SES plugin
    itself (retries off, same pool size) — from a thread pool as wide as the plugin's
    ``send_threads``, to the same moto in the same run. The figure reported is (a) / (b).
(c) **events**: N ``Delivery`` records (contract §2.5, for rows sent in (a)) are published to the
    SNS topic, which moto copies into two SQS queues (SNS envelope). A bare boto3 loop drains one
    (receive 10, decode twice, delete batch) as the baseline; then a gateway whose only background
    work is the ``ses`` event source is started on the other, and the time until the N
    ``delivered`` events are stored is taken (gateway start-up included). Both drains start from a
    queue N deep: moto's SQS slows with depth (contract §5.7), so compare the two, not absolutes.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from postgate.app import Gateway
from postgate.testing.fixtures import TEST_DOMAIN, LiveServer, basic_auth, free_port, make_settings

from .ghost_form import ghost_batch, member_addresses

REGION = "us-east-1"
DUMMY_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}
CONFIGURATION_SET = "postgate"


class Moto:
    """moto's server as a child process on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def raw_messages(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=120) as response:
            return json.loads(response.read()).get("ses", {}).get("RawMessage", [])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)


def iso(moment: float) -> str:
    stamp = dt.datetime.fromtimestamp(moment, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def delivery_record(ses_id: str, address: str, rcpt_id: int, batch_id: int) -> dict[str, Any]:
    now = time.time()
    return {
        "eventType": "Delivery",
        "mail": {
            "timestamp": iso(now - 3), "source": f"My Blog <noreply@{TEST_DOMAIN}>",
            "sourceArn": f"arn:aws:ses:{REGION}:123456789012:identity/{TEST_DOMAIN}",
            "sendingAccountId": "123456789012", "messageId": ses_id, "destination": [address],
            "headersTruncated": False,
            "commonHeaders": {"from": [f"My Blog <noreply@{TEST_DOMAIN}>"], "to": [address], "subject": "Weekly issue"},
            "tags": {"ses:configuration-set": [CONFIGURATION_SET], "ses:outgoing-ip": ["198.51.100.7"],
                     "pg_batch": [str(batch_id)], "pg_rcpt": [str(rcpt_id)],
                     "pg_domain": [TEST_DOMAIN.replace(".", "_")]},
        },
        "delivery": {"timestamp": iso(now - 1), "processingTimeMillis": 2000, "recipients": [address],
                     "smtpResponse": "250 2.0.0 OK", "remoteMtaIp": "203.0.113.25",
                     "reportingMTA": "a8-70.smtp-out.amazonses.com"},
    }


def _count(server: LiveServer, sql: str, args: tuple[Any, ...] = ()) -> int:
    async def count() -> int:
        async with server.gateway.storage.session() as db:
            rows = await db.fetch(sql, args)
        return int(rows[0][0])

    return server.run(count())


def _post(server: LiveServer, recipients: list[str]) -> None:
    body, content_type = ghost_batch(TEST_DOMAIN, recipients)
    request = urllib.request.Request(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=body, method="POST",
                                     headers={**basic_auth(), "Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=120) as response:
        if response.status != 200:
            raise RuntimeError(f"accept answered {response.status}")


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _gateway(data_dir: Path, moto: Moto, queues: dict[str, str], *, threads: int, workers: int,
             events_queue: str | None = None) -> LiveServer:
    ses: dict[str, Any] = {"region": REGION, "endpoint_url": moto.url, "configuration_set": CONFIGURATION_SET,
                           "max_send_rate": 100_000.0, "send_threads": threads, "events_wait_seconds": 1}
    if events_queue:
        ses["events_queue_url"] = events_queue
    settings = make_settings(
        data_dir, load_plugins=["ses", "sqs"],
        backends={"queue": "sqs", "delivery": "ses", "storage": "sqlite",
                  "event_sources": ["ses"] if events_queue else []},
        gateway={"workers": workers, "job_size": 50},
        plugin_settings={"ses": ses, "sqs": {"queue_url": queues["jobs"], "endpoint_url": moto.url,
                                             "region": REGION, "wait_seconds": 1, "visibility_timeout": 60}},
    )
    return LiveServer(Gateway(settings, load_entrypoints=True), background=True).start()


def bench_aws(workdir: Path, recipients: int = 1000, events: int = 300, threads: int = 8) -> dict[str, Any]:
    os.environ.update(DUMMY_AWS)  # never real credentials: every client points at moto
    moto = Moto()
    try:
        return _run(workdir, moto, recipients, events, threads)
    finally:
        moto.stop()


def _run(workdir: Path, moto: Moto, total: int, n_events: int, threads: int) -> dict[str, Any]:
    sesv2, sqs, sns = moto.client("sesv2"), moto.client("sqs"), moto.client("sns")
    sesv2.create_email_identity(EmailIdentity=TEST_DOMAIN)
    sesv2.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
    queues = {"jobs": sqs.create_queue(QueueName="postgate-jobs", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]}
    topic = sns.create_topic(Name="postgate-ses-events")["TopicArn"]
    for name in ("events", "baseline"):
        url = sqs.create_queue(QueueName=f"postgate-ses-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        queues[name] = url
    data_dir = workdir / "aws"

    # (a) the Postgate pipeline.
    server = _gateway(data_dir, moto, queues, threads=threads, workers=1)
    try:
        warm = 50
        _post(server, member_addresses(warm, offset=10_000_000))
        _wait(lambda: _count(server, "SELECT COUNT(*) FROM recipients WHERE status = 'sent'") >= warm, 120, "warm-up")
        addresses = member_addresses(total)
        started = time.perf_counter()
        _post(server, addresses)
        accepted = time.perf_counter() - started
        _wait(lambda: _count(server, "SELECT COUNT(*) FROM recipients WHERE status = 'sent'") >= warm + total,
              max(300, total / 5), "the pipeline")
        pipeline_seconds = time.perf_counter() - started
        ledger = server.run(_ledger(server))
    finally:
        server.stop()
    stored = {entry["destinations"][0].lower(): entry for entry in moto.raw_messages()}
    mine = [stored[a.lower()] for a in addresses]
    sizes = [len(entry["raw_data"].encode()) for entry in mine]
    pipeline_rate = total / pipeline_seconds
    print(f"aws     pipeline: {total} recipients Ghost POST → SQS → 1 worker → SES (moto): "
          f"{pipeline_rate:,.0f} recipients/s ({pipeline_seconds:.2f} s, accept {accepted * 1000:.0f} ms, "
          f"MIME {sum(sizes) / len(sizes) / 1024:.1f} KiB)")

    # (b) a bare boto3 loop making the same calls.
    from postgate_ses import aws as ses_aws
    from postgate_ses.settings import SesSettings

    client = ses_aws.ses_client(SesSettings(region=REGION, endpoint_url=moto.url, send_threads=threads), sending=True)
    calls = []
    for entry in mine:
        address = entry["destinations"][0]
        row_id, batch_id = ledger[address.lower()]
        calls.append({
            "FromEmailAddress": f"noreply@{TEST_DOMAIN}", "Destination": {"ToAddresses": [address]},
            "Content": {"Raw": {"Data": entry["raw_data"].encode()}},
            "EmailTags": [{"Name": "pg_batch", "Value": str(batch_id)}, {"Name": "pg_rcpt", "Value": str(row_id)},
                          {"Name": "pg_domain", "Value": TEST_DOMAIN.replace(".", "_")}],
            "ConfigurationSetName": CONFIGURATION_SET,
        })
    client.send_email(**calls[0])  # warm-up: connection pool
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        started = time.perf_counter()
        ids = list(pool.map(lambda params: client.send_email(**params)["MessageId"], calls))
        bare_seconds = time.perf_counter() - started
    assert len(ids) == total
    bare_rate = total / bare_seconds
    ratio = pipeline_rate / bare_rate
    print(f"aws     bare boto3: the same {total} sesv2.send_email Raw calls, {threads} threads: "
          f"{bare_rate:,.0f} calls/s ({bare_seconds:.2f} s)")
    print(f"aws     ratio pipeline / bare boto3: {ratio:.2f}")

    # (c) SES events ingested per second.
    n_events = min(n_events, total)
    records = [delivery_record(entry["id"], entry["destinations"][0], *ledger[entry["destinations"][0].lower()])
               for entry in mine[:n_events]]
    for start in range(0, len(records), 10):
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": str(i), "Message": json.dumps(r)} for i, r in enumerate(records[start:start + 10])])
    started = time.perf_counter()
    drained = 0
    while drained < n_events:
        got = sqs.receive_message(QueueUrl=queues["baseline"], MaxNumberOfMessages=10).get("Messages", [])
        for message in got:
            json.loads(json.loads(message["Body"])["Message"])
        if got:
            sqs.delete_message_batch(QueueUrl=queues["baseline"], Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
        drained += len(got)
    baseline_seconds = time.perf_counter() - started
    started = time.perf_counter()
    server = _gateway(data_dir, moto, queues, threads=threads, workers=0, events_queue=queues["events"])
    try:
        ready = time.perf_counter() - started
        sql = "SELECT COUNT(*) FROM events WHERE event = 'delivered'"
        _wait(lambda: _count(server, sql) >= n_events, max(300, n_events), "the events")
        events_seconds = time.perf_counter() - started
    finally:
        server.stop()
    events_rate = n_events / events_seconds
    baseline_rate = n_events / baseline_seconds
    print(f"aws     events: {n_events} SES Delivery records SNS → SQS (envelope, queue {n_events} deep) → "
          f"ses event source → storage: {events_rate:,.0f} events/s ({events_seconds:.2f} s incl. "
          f"{ready:.2f} s gateway start); bare boto3 receive+decode+delete: {baseline_rate:,.0f}/s "
          f"(ratio {events_rate / baseline_rate:.2f})")
    return {"recipients": total, "pipeline_recipients_per_s": pipeline_rate, "pipeline_seconds": pipeline_seconds,
            "accept_seconds": accepted, "bare_calls_per_s": bare_rate, "bare_seconds": bare_seconds,
            "ratio": ratio, "threads": threads, "mime_bytes_mean": sum(sizes) / len(sizes),
            "events": n_events, "events_per_s": events_rate, "events_seconds": events_seconds,
            "events_gateway_start_seconds": ready, "events_baseline_per_s": baseline_rate,
            "events_ratio": events_rate / baseline_rate}


async def _ledger(server: LiveServer) -> dict[str, tuple[int, int]]:
    async with server.gateway.storage.session() as db:
        rows = await db.fetch("SELECT address, id, batch_id FROM recipients")
    return {str(address).lower(): (int(rid), int(bid)) for address, rid, bid in rows}
