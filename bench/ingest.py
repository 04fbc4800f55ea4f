"""``python -m bench --only ingest``: SES events/s into storage from a fast local SQS stand-in.

1. A gateway (:class:`~postgate.testing.fixtures.LiveServer`, no worker loop, the ``ses`` event
   source on) accepts Ghost batches of 1000 recipients, so the ledger holds one row per
   recipient; every row is given an SES message id, as if SES had answered ``SendEmail``.
2. For every recipient an SNS-wrapped SES record is made (:func:`postgate_ses.testing.ses_record`):
   a ``Delivery`` each, plus an ``Open`` for one in 10, a permanent ``Bounce`` for one in 50 and a
   ``Complaint`` for one in 200; one record in 20 is queued twice (an SNS/SQS redelivery).
3. The records are loaded into :mod:`bench.sqs_standin` (a child process) and the clock runs
   until the storage holds one event per distinct record and the stand-in has every message
   deleted (the bench polls the stand-in every 20 ms and counts the stored events once it is
   empty). The figure is distinct events stored per second; the line also checks that no
   duplicate was stored, and gives the CPU time of the bench process (the gateway, plus the
   bench's own polling) over the same window: events per CPU-second tells what one free core
   would reach on a busy machine. :func:`bench_ingest_clients` runs it once per
   ``events_client`` (``--ingest-clients http,boto3``), alternating, and compares the best of each.
4. :func:`bench_ingest_dashboard` runs the same ingest without and with the dashboard's roll-ups
   (``load_plugins = ["ses", "dashboard"]``; the clock then also waits for the roll-ups to be
   written), alternating, and reports the ratio of CPU per event: what keeping the roll-ups costs
   the real ingest path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from postgate.app import Gateway
from postgate.testing.fixtures import TEST_DOMAIN, LiveServer, basic_auth, make_settings

from .ghost_form import ghost_batch, member_addresses

REGION = "us-east-1"
TOPIC = "arn:aws:sns:us-east-1:123456789012:postgate-ses-events"
LOAD_CHUNK = 5000  # messages per /_load request


class SqsStandinProcess:
    """:mod:`bench.sqs_standin` as a child process on a free loopback port."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.sqs_standin"], stdout=subprocess.PIPE,
                                     cwd=Path(__file__).resolve().parent.parent)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"

    def _call(self, path: str, data: bytes | None = None) -> dict[str, int]:
        request = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def load(self, bodies: list[str]) -> None:
        for start in range(0, len(bodies), LOAD_CHUNK):
            self._call("/_load", "".join(json.dumps(b) + "\n" for b in bodies[start:start + LOAD_CHUNK]).encode())

    def stats(self) -> dict[str, int]:
        return self._call("/_stats")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


def sns_body(record: dict[str, Any], index: int) -> str:
    """``record`` in the SNS envelope SQS receives from a topic subscription (raw delivery off)."""
    return json.dumps({
        "Type": "Notification", "MessageId": f"00000000-0000-4000-8000-{index:012d}", "TopicArn": TOPIC,
        "Message": json.dumps(record), "Timestamp": record["mail"]["timestamp"], "SignatureVersion": "1",
        "Signature": "EXAMPLE" * 24, "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-x.pem",
        "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={TOPIC}:1",
    })


def records_for(rows: list[tuple[int, int, str, str]]) -> tuple[list[str], int]:
    """SNS bodies for ``rows`` (id, batch id, address, SES id) and the number of distinct events."""
    from postgate_ses.testing import ses_record

    bodies: list[str] = []
    distinct = 0
    for index, (rcpt_id, batch_id, address, ses_id) in enumerate(rows):
        kinds = ["Delivery"]
        if index % 10 == 3:
            kinds.append("Open")
        if index % 50 == 7:
            kinds = ["Bounce"]
        if index % 200 == 11:
            kinds.append("Complaint")
        for kind in kinds:
            body = sns_body(ses_record(kind, ses_id, address, rcpt_id=rcpt_id, batch_id=batch_id), len(bodies))
            bodies.append(body)
            distinct += 1
            if len(bodies) % 20 == 0:
                bodies.append(body)  # the same SNS message delivered twice
    return bodies, distinct


def _count(server: LiveServer, sql: str) -> list[tuple[Any, ...]]:
    async def fetch() -> list[tuple[Any, ...]]:
        async with server.gateway.storage.session() as db:
            return [tuple(row) for row in await db.fetch(sql)]

    return server.run(fetch())


def _settle(server: LiveServer) -> list[tuple[int, int, str, str]]:
    async def settle() -> None:
        async with server.gateway.storage.session(write=True) as db:
            await db.execute("UPDATE recipients SET provider_id = 'ses-' || id, status = 'sent'")

    server.run(settle())
    return [(int(r[0]), int(r[1]), str(r[2]), str(r[3]))
            for r in _count(server, "SELECT id, batch_id, address, provider_id FROM recipients ORDER BY id")]


def bench_ingest(workdir: Path, recipients: int = 10_000, *, dashboard: bool = False,
                 label: str = "ingest", client: str = "http") -> dict[str, Any]:
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION})
    sqs = SqsStandinProcess()
    ses = {"region": REGION, "endpoint_url": sqs.url, "events_queue_url": f"{sqs.url}/123456789012/ses-events",
           "events_wait_seconds": 1}
    if client != "http":
        ses["events_client"] = client
    settings = make_settings(workdir / label, load_plugins=["ses", "dashboard"] if dashboard else ["ses"],
                             backends={"storage": "sqlite", "event_sources": ["ses"]},
                             gateway={"workers": 0}, plugin_settings={"ses": ses})
    server = LiveServer(Gateway(settings, load_entrypoints=True), background=True).start()
    try:
        for start in range(0, recipients, 1000):
            body, content_type = ghost_batch(TEST_DOMAIN, member_addresses(min(1000, recipients - start), offset=start))
            request = urllib.request.Request(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=body, method="POST",
                                             headers={**basic_auth(), "Content-Type": content_type})
            with urllib.request.urlopen(request, timeout=120) as response:
                assert response.status == 200
        bodies, distinct = records_for(_settle(server))
        started, cpu_started = time.perf_counter(), time.process_time()
        sqs.load(bodies)
        deadline = time.monotonic() + max(120.0, distinct / 50)
        stored = 0
        while True:  # the stand-in first: a message is deleted only once its events are committed
            stats = sqs.stats()
            if stats["queued"] == 0 and stats["in_flight"] == 0:
                stored = int(_count(server, "SELECT COUNT(*) FROM events")[0][0])
                if stored >= distinct:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {stored} of {distinct} events stored ({stats})")
            time.sleep(0.02)
        if dashboard:  # the roll-ups of every stored event written, inside the measured window
            from postgate_dashboard.rollups.buffer import flush

            server.run(flush(server.gateway))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        keys = int(_count(server, "SELECT COUNT(DISTINCT event_key) FROM events")[0][0])
    finally:
        server.stop()
        sqs.stop()
    rate = distinct / elapsed
    print(f"{label}  {len(bodies):,} SQS messages ({len(bodies) - distinct:,} sent twice) → {stored:,} events "
          f"stored ({keys:,} distinct) in {elapsed:.2f} s: {rate:,.0f} events/s; gateway CPU {cpu:.2f} s "
          f"= {distinct / cpu:,.0f} events per CPU-second")
    return {"client": client, "messages": len(bodies), "distinct": distinct, "stored": stored, "distinct_keys": keys,
            "seconds": elapsed, "events_per_s": rate, "cpu_seconds": cpu, "events_per_cpu_s": distinct / cpu}


def bench_ingest_clients(workdir: Path, recipients: int = 10_000, clients: Sequence[str] = ("http",),
                         rounds: int = 1) -> dict[str, Any]:
    """``rounds`` ingest runs per ``events_client`` (alternating); with two or more clients, the best
    figures of each and their ratios to the first's."""
    runs = [bench_ingest(workdir, recipients, label=f"ingest-{client}-{index}", client=client)
            for index in range(rounds) for client in clients]
    if len(clients) < 2 and rounds == 1:
        return runs[0]
    best = {client: (max(r["events_per_s"] for r in runs if r["client"] == client),
                     max(r["events_per_cpu_s"] for r in runs if r["client"] == client)) for client in clients}
    first = best[clients[0]]
    for client, (rate, per_cpu) in best.items():
        print(f"ingest  events_client = {client}: best {rate:,.0f} events/s (x{rate / first[0]:.2f}), "
              f"{per_cpu:,.0f} events per CPU-second (x{per_cpu / first[1]:.2f})")
    return {"runs": runs, "best": best}


def bench_ingest_dashboard(workdir: Path, recipients: int = 10_000, rounds: int = 2) -> dict[str, Any]:
    """The ingest without and with the dashboard's roll-ups, alternating; the best CPU per event of
    each and their ratio."""
    plain: list[dict[str, Any]] = []
    rolled: list[dict[str, Any]] = []
    for index in range(rounds):
        plain.append(bench_ingest(workdir, recipients, label=f"ingest-plain-{index}"))
        rolled.append(bench_ingest(workdir, recipients, dashboard=True, label=f"ingest-rollups-{index}"))
    best_plain = max(r["events_per_cpu_s"] for r in plain)
    best_rolled = max(r["events_per_cpu_s"] for r in rolled)
    ratio = best_plain / best_rolled
    print(f"ingest with the dashboard's roll-ups: {best_rolled:,.0f} vs {best_plain:,.0f} events per CPU-second "
          f"without: CPU per event x{ratio:.3f}")
    return {"plain": plain, "rollups": rolled, "cpu_ratio": ratio}
