"""``python -m bench.mailgun_relay``: a Ghost batch delivered through the Mailgun relay versus a bare
``httpx`` loop posting the same number of ``messages.mime`` calls, to the same upstream, in one run.

The upstream is a second Postgate under Hypercorn on loopback (no workers: it only accepts, as
Mailgun's API does). The relay figure is the whole pipeline of the first Postgate (claim, render,
dispatch marks, one ``messages.mime`` per recipient with ``max_connections`` in flight, ledger
writes) from a queued batch to an empty queue; the bare loop posts pre-rendered messages with the
same number of calls in flight over one pooled ``httpx.AsyncClient``. Rounds alternate; the best of
each is reported, and the ratio relay / bare. Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

import postgate_mailgun.plugin as relay_plugin
from postgate.app import Gateway
from postgate.domain import Message
from postgate.testing.fixtures import LiveServer, make_settings
from postgate.worker import Worker

DOMAIN = "mg.example.com"
UPSTREAM = "relay.example.net"
KEY = "key-bench-upstream"
KEY_ENV = "POSTGATE_BENCH_UPSTREAM_KEY"


def batch(count: int, round_no: int) -> Message:
    people = [f"r{round_no}-member{i}@example.org" for i in range(count)]
    return Message(domain=DOMAIN, sender=f"News <news@{DOMAIN}>", to=people, subject="Hello %recipient.name%",
                   html="<p>Hi %recipient.name%</p>" + "<p>Newsletter body</p>" * 60, text="Hi %recipient.name%",
                   recipient_variables={a: {"name": f"Member {i}"} for i, a in enumerate(people)},
                   tags=["ghost-email"], variables={"email-id": "bench"})


async def relay_round(gateway: Gateway, count: int, round_no: int) -> float:
    await gateway.accept(batch(count, round_no))
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(Worker(gateway, "bench").run(stop))
    while await gateway.queue.depth():
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return count / elapsed


async def bare_round(url: str, count: int, width: int, raw: bytes) -> float:
    limits = httpx.Limits(max_connections=width, max_keepalive_connections=width)
    async with httpx.AsyncClient(base_url=url, auth=("api", KEY), limits=limits, timeout=60) as client:
        gate = asyncio.Semaphore(width)

        async def post(index: int) -> None:
            async with gate:
                response = await client.post(f"/v3/{UPSTREAM}/messages.mime",
                                             data={"to": f"bare{index}@example.org", "v:postgate-rcpt": str(index)},
                                             files={"message": ("message.mime", raw, "message/rfc822")})
                if response.status_code != 200:
                    raise RuntimeError(f"upstream answered {response.status_code}: {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(post(i) for i in range(count)))
        return count / (time.perf_counter() - started)


async def measure(upstream: LiveServer, folder: Path, count: int, rounds: int, width: int) -> dict[str, float]:
    settings = make_settings(folder / "relay", backends={"delivery": "mailgun"},
                             plugins={"mailgun_relay": {"base_url": upstream.url, "api_key_env": KEY_ENV,
                                                        "domains": {DOMAIN: UPSTREAM}, "max_connections": width}})
    gateway = Gateway(settings, plugins=[relay_plugin], load_entrypoints=False)
    await gateway.start()
    try:
        await relay_round(gateway, 20, 0)  # warm-up
        raw = (batch(1, 0).html or "").encode()
        raw = (f"From: news@{DOMAIN}\r\nTo: x@example.org\r\nSubject: Hello\r\n"
               "Content-Type: text/html; charset=utf-8\r\n\r\n").encode() + raw
        await bare_round(upstream.url, 20, width, raw)
        best = {"relay": 0.0, "bare": 0.0}
        for round_no in range(1, rounds + 1):
            best["relay"] = max(best["relay"], await relay_round(gateway, count, round_no))
            best["bare"] = max(best["bare"], await bare_round(upstream.url, count, width, raw))
        return best
    finally:
        await gateway.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mailgun_relay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=500, help="recipients per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each counts")
    parser.add_argument("--width", type=int, default=32, help="calls in flight (the relay's max_connections)")
    args = parser.parse_args(argv)
    os.environ[KEY_ENV] = KEY
    with tempfile.TemporaryDirectory(prefix="pgbench-relay-") as name:
        folder = Path(name)
        upstream = LiveServer(Gateway(make_settings(folder / "upstream", domain=UPSTREAM, api_key=KEY),
                                      load_entrypoints=False), background=False)
        upstream.start()
        try:
            best = asyncio.run(measure(upstream, folder, args.recipients, args.rounds, args.width))
        finally:
            upstream.stop()
    print(f"relay (whole pipeline)  {best['relay']:7.1f} recipients/s")
    print(f"bare httpx loop         {best['bare']:7.1f} messages/s")
    print(f"ratio relay / bare: {best['relay'] / best['bare']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
