"""``python -m bench --only smtp``: the ``smtp`` delivery against a local aiosmtpd sink, versus a
bare aiosmtplib loop on the same sink with the same number of connections, in the same run.

The sink is aiosmtpd in its own process on a loopback port (so it shares no GIL with either
sender); it answers ``250`` to everything, keeps nothing but a count, and writes the first
message it receives to a file. ``latency``: seconds it holds each answer to a message, as a relay
across a network does (0: as fast as loopback allows, so the figure measures CPU per message).
``pipelining``: the sink offers PIPELINING in its EHLO reply, as Postfix does, and Postgate sends
MAIL, RCPT and DATA in one write; aiosmtplib never pipelines, so the bare loop is the same either way.

(a) **pipeline**: recipients/s from the first byte of Ghost batch POSTs (N recipients, 1000 a batch) to a
    :class:`~postgate.testing.fixtures.LiveServer` (one worker loop, SQLite, local queue,
    ``backends.delivery = "smtp"``, ``relay_connections = C``, no TLS) until every ledger row of it
    is ``delivered``: accept, ledger, rendering, one SMTP transaction per recipient over pooled
    connections, dispatch marks, events.
(b) **bare aiosmtplib**: C connections, each sending its share of N messages with
    ``SMTP.sendmail`` (one recipient per envelope), the message being the very bytes Postgate
    rendered for its first recipient in (a).

The figure reported is (a) / (b): the median over ``rounds`` alternations of (a) and (b).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from postgate.app import Gateway
from postgate.testing.fixtures import TEST_DOMAIN, LiveServer, basic_auth, free_port, make_settings

from .ghost_form import ghost_batch, member_addresses


class Sink:
    """The aiosmtpd sink as a child process (``python -m bench.smtp --sink PORT FILE``)."""

    def __init__(self, folder: Path, latency: float = 0.0, pipelining: bool = False) -> None:
        self.port = free_port()
        self.first = folder / "first.eml"
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.smtp", "--sink", str(self.port), str(self.first),
                                      "--latency", str(latency), *(["--pipelining"] if pipelining else [])])
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the SMTP sink did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


def _count(server: LiveServer, sql: str) -> int:
    async def count() -> int:
        async with server.gateway.storage.session() as db:
            rows = await db.fetch(sql)
        return int(rows[0][0])

    return server.run(count())


def _post(server: LiveServer, recipients: list[str]) -> None:
    body, content_type = ghost_batch(TEST_DOMAIN, recipients)
    request = urllib.request.Request(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=body, method="POST",
                                     headers={**basic_auth(), "Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=120) as response:
        if response.status != 200:
            raise RuntimeError(f"accept answered {response.status}")


def _wait_delivered(server: LiveServer, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _count(server, "SELECT COUNT(*) FROM recipients WHERE status = 'delivered'") < count:
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for the smtp pipeline")
        time.sleep(0.02)


async def bare_loop(port: int, raw: bytes, recipients: list[str], connections: int) -> float:
    """Seconds for ``connections`` aiosmtplib connections to send one envelope per recipient."""
    import aiosmtplib

    shares = [recipients[i::connections] for i in range(connections)]
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=60)
               for _ in range(connections)]
    await asyncio.gather(*(client.connect() for client in clients))
    await clients[0].sendmail(f"noreply@{TEST_DOMAIN}", ["warm-up@example.com"], raw)

    async def run(client: Any, share: list[str]) -> None:
        for address in share:
            await client.sendmail(f"noreply@{TEST_DOMAIN}", [address], raw)

    started = time.perf_counter()
    await asyncio.gather(*(run(client, share) for client, share in zip(clients, shares)))
    seconds = time.perf_counter() - started
    await asyncio.gather(*(client.quit() for client in clients))
    return seconds


def bench_smtp(workdir: Path, recipients: int = 2000, connections: int = 8, latency: float = 0.0,
               rounds: int = 3, pipelining: bool = False) -> dict[str, Any]:
    """``rounds`` alternations of (a) and (b) on one sink and one gateway; the ratio of each round
    compares two runs a few seconds apart (a shared machine drifts more than that between runs)."""
    folder = workdir / f"smtp-{latency}-{'pipelining' if pipelining else 'plain'}"
    folder.mkdir(parents=True, exist_ok=True)
    sink = Sink(folder, latency, pipelining)
    offers = "offers PIPELINING" if pipelining else "no PIPELINING"
    pipeline: list[float] = []
    bare: list[float] = []
    try:
        settings = make_settings(
            folder / "data", backends={"delivery": "smtp"}, load_plugins=["smtp"],
            gateway={"workers": 1},
            plugin_settings={"smtp": {"relay_host": "127.0.0.1", "relay_port": sink.port, "relay_tls": "none",
                                      "relay_connections": connections}},
        )
        server = LiveServer(Gateway(settings, load_entrypoints=True), background=True).start()
        try:
            done = 50
            _post(server, member_addresses(done, offset=10_000_000))  # warm-up: connections, caches
            _wait_delivered(server, done, 120)
            raw = sink.first.read_bytes()
            for round_ in range(rounds):
                addresses = member_addresses(recipients, offset=(round_ + 1) * 1_000_000)
                started = time.perf_counter()
                for first in range(0, len(addresses), 1000):  # Mailgun's limit per batch
                    _post(server, addresses[first:first + 1000])
                done += recipients
                _wait_delivered(server, done, max(300, recipients / 5))
                pipeline.append(recipients / (time.perf_counter() - started))
                targets = member_addresses(recipients, offset=(round_ + 1) * 1_000_000 + 500_000)
                bare.append(recipients / asyncio.run(bare_loop(sink.port, raw, targets, connections)))
        finally:
            server.stop()
    finally:
        sink.stop()
    ratios = sorted(p / b for p, b in zip(pipeline, bare))
    ratio = statistics.median(ratios)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"smtp    pipeline: {recipients} recipients Ghost POST → 1 worker → smtp delivery, {connections} "
          f"connections → aiosmtpd sink ({latency * 1000:.0f} ms per answer, {offers}), "
          f"MIME {len(raw) / 1024:.1f} KiB: " + ", ".join(f"{rate:,.0f}" for rate in pipeline) + " recipients/s")
    print(f"smtp    bare aiosmtplib (does not pipeline): the same number of envelopes, {connections} connections, "
          "run right after each: " + ", ".join(f"{rate:,.0f}" for rate in bare) + " messages/s")
    print(f"smtp    ratio pipeline / bare aiosmtplib ({latency * 1000:.0f} ms, {offers}): median {ratio:.2f} of "
          + ", ".join(f"{r:.2f}" for r in ratios) + f"; load average {load}")
    return {"recipients": recipients, "connections": connections, "latency": latency, "rounds": rounds,
            "sink_pipelining": pipelining, "pipeline_recipients_per_s": pipeline, "bare_messages_per_s": bare,
            "ratios": ratios, "ratio": ratio, "mime_bytes": len(raw), "load_average": os.getloadavg()}


# -- the sink process ------------------------------------------------------------------------------


class _CountingHandler:
    def __init__(self, first: Path, latency: float, pipelining: bool) -> None:
        self.first = first
        self.latency = latency
        self.pipelining = pipelining
        self.count = 0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads one command line at a time, so pipelined ones are fine
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.latency:
            await asyncio.sleep(self.latency)
        self.count += 1
        if self.count == 1:
            self.first.write_bytes(envelope.original_content or envelope.content)
        return "250 2.0.0 Ok: queued"


def _run_sink(port: int, first: Path, latency: float, pipelining: bool) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_CountingHandler(first, latency, pipelining), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sink", nargs=2, metavar=("PORT", "FILE"), required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--pipelining", action="store_true")
    args = parser.parse_args()
    _run_sink(int(args.sink[0]), Path(args.sink[1]), args.latency, args.pipelining)
