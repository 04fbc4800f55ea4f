"""``python -m bench --only webhooks``: webhook fan-out and what it costs the send path.

1. **Fan-out**: a live gateway (Hypercorn on a loopback port, SQLite) with the webhooks plugin
   and a ``delivered`` webhook pointing at a receiver in a separate process (a small asyncio
   HTTP server on loopback that answers 200 at once). Events are recorded through the gateway's
   own path (``record_events``, which runs the ``events_recorded`` hooks) at a steady rate, 10 per
   10 ms, for the requested count. Reported: POSTs received per second, and p50/p99/max of the
   time from just before the event is recorded (a ``bench-queued`` user variable: the event's own
   timestamp holds whole seconds only, which would add up to a second) to the receiver reading
   the POST (target: p99 under 1 s at 1,000 events/s). Run twice: with the serving process
   delivering alone, and with a ``postgate worker --workers 0`` process on the same data folder
   delivering too (they share the queue through leases).
2. **Send throughput with and without the plugin**: the embedded pipeline (accept → worker →
   outbox) pushing Ghost batches, once without the plugin and once with it and webhooks on
   ``accepted`` and ``delivered`` posting to the same receiver, alternated twice, best of each.
   A third series loads the plugin with ``deliver = "workers"``: the serving process queues the
   POSTs and ``postgate worker`` processes would make them. Reported: recipients/s of each and the ratios to the first
   (target: about 1.0).
3. **CPU per POST**: 4,000 deliveries queued beforehand, then one delivery loop (no server, no
   recording going on) POSTs them all to the receiver; reported: the bench process's CPU time
   (every thread: the loop, aiohttp, the SQLite thread) per POST, best of two. Runs first.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

import postgate_webhooks.plugin as webhooks_plugin
from postgate_webhooks.dispatcher import Dispatcher
from postgate_webhooks.state import webhooks_for
from postgate_webhooks.subscriptions import replace_urls
from postgate import Event, Gateway
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, LiveServer, basic_auth, free_port, make_settings

from .ghost_form import ghost_batch, member_addresses

RECEIVER = textwrap.dedent('''
    import asyncio, json, sys, time
    port = int(sys.argv[1])
    latencies = []
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\\r\\n\\r\\n")
                length = 0
                for line in head.split(b"\\r\\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                if head.startswith(b"POST /reset"):
                    latencies.clear()
                    writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
                elif head.startswith(b"GET /stats"):
                    out = json.dumps(latencies).encode()
                    writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(out) + out)
                else:
                    now = time.time()
                    data = json.loads(body)["event-data"]
                    latencies.append(now - data.get("user-variables", {}).get("bench-queued", data["timestamp"]))
                    writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1000)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()
    asyncio.run(main())
''')


class ReceiverProcess:
    """The receiver in its own process, so it never competes with the gateway for the GIL."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-c", RECEIVER, str(self.port)], stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def latencies(self) -> list[float]:
        return httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=30).json()

    def reset(self) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}/reset", timeout=30).raise_for_status()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5))) - 1]


def _server(data_dir: Path, with_plugin: bool, workers: int, deliver: bool | str = True) -> LiveServer:
    table = {"allow_private_targets": True, "deliver": deliver}
    settings = make_settings(data_dir, gateway={"workers": workers}, plugins={"webhooks": table} if with_plugin else {})
    plugins = [webhooks_plugin] if with_plugin else []
    # background work (and so delivery) runs even at workers = 0: event sources only, no send loops
    return LiveServer(Gateway(settings, plugins=plugins, load_entrypoints=False), background=True).start()


def _subscribe(server: LiveServer, url: str, *webhooks: str) -> None:
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as http:
        for webhook in webhooks:
            http.post(f"/v3/domains/{TEST_DOMAIN}/webhooks", data={"id": webhook, "url": url}).raise_for_status()


async def _record_steadily(gateway: Gateway, total: int, per_tick: int = 10, tick: float = 0.01) -> float:
    started = time.perf_counter()
    for index in range(0, total, per_tick):
        events = [Event(domain=TEST_DOMAIN, event="delivered", recipient=f"m{n}@example.com",
                        message_id=f"{n}@mg.example.com", key=f"bench-{n}",
                        payload={"recipient": f"m{n}@example.com", "message": {"headers": {"message-id": f"{n}@mg"}},
                                 "user-variables": {"bench-queued": time.time()},
                                 "delivery-status": {"code": 250, "message": "OK"}})
                  for n in range(index, min(total, index + per_tick))]
        await gateway.record_events(events)
        lag = started + (index + per_tick) / per_tick * tick - time.perf_counter()
        if lag > 0:
            await asyncio.sleep(lag)
    return time.perf_counter() - started


class DeliveringWorker:
    """``postgate worker --workers 0`` on the same data folder: a second process that delivers
    webhooks (and sends nothing)."""

    def __init__(self, data_dir: Path) -> None:
        config = data_dir / "worker.toml"
        config.write_text("[plugins.webhooks]\nallow_private_targets = true\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
        env.update(POSTGATE_LOAD_PLUGINS='["webhooks"]', POSTGATE_DATA_DIR=str(data_dir), POSTGATE_DOMAIN=TEST_DOMAIN,
                   POSTGATE_API_KEY=TEST_KEY, POSTGATE_CONFIG=str(config))
        self.proc = subprocess.Popen([sys.executable, "-m", "postgate", "worker", "--workers", "0"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # "Postgate worker running ...": delivering from now on

    def close(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)


def bench_fanout(workdir: Path, receiver: ReceiverProcess, events: int, processes: int = 1) -> dict[str, Any]:
    receiver.reset()
    server = _server(workdir / f"fanout{processes}", True, workers=0)
    helpers = [DeliveringWorker(server.gateway.settings.data_dir) for _ in range(processes - 1)]
    try:
        _subscribe(server, receiver.url, "delivered")
        seconds = server.run(_record_steadily(server.gateway, events), timeout=events / 100 + 60)
        deadline = time.monotonic() + 120
        latencies = receiver.latencies()
        while len(latencies) < events and time.monotonic() < deadline:
            time.sleep(0.2)
            latencies = receiver.latencies()
    finally:
        for helper in helpers:
            helper.close()
        server.stop()
    if len(latencies) < events:
        raise RuntimeError(f"only {len(latencies)} of {events} webhook POSTs arrived")
    result = {"events": events, "processes": processes, "offered_per_s": events / seconds,
              "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "max": max(latencies)}
    print(f"webhooks fan-out, {processes} delivering process(es): {events} events offered at "
          f"{result['offered_per_s']:,.0f}/s, all POSTed; enqueue-to-POST p50 {result['p50'] * 1000:.0f} ms, "
          f"p99 {result['p99'] * 1000:.0f} ms, max {result['max'] * 1000:.0f} ms (target p99 < 1 s)")
    return result


def _pipeline_rate(data_dir: Path, recipients: int, receiver: ReceiverProcess | None,
                   deliver: bool | str = True) -> float:
    server = _server(data_dir, receiver is not None, workers=1, deliver=deliver)
    try:
        if receiver is not None:
            _subscribe(server, receiver.url, "accepted", "delivered")
        bodies = [ghost_batch(TEST_DOMAIN, member_addresses(min(1000, recipients - start), offset=start))
                  for start in range(0, recipients, 1000)]
        started = time.perf_counter()
        with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=120) as http:
            for body, content_type in bodies:
                http.post(f"/v3/{TEST_DOMAIN}/messages", content=body,
                          headers={"Content-Type": content_type}).raise_for_status()
        deadline = time.monotonic() + max(120, recipients / 50)
        while _delivered(server) < recipients:
            if time.monotonic() > deadline:
                raise RuntimeError("the pipeline did not finish in time")
            time.sleep(0.05)
        return recipients / (time.perf_counter() - started)
    finally:
        server.stop()


def _delivered(server: LiveServer) -> int:
    async def count() -> int:
        async with server.gateway.storage.session() as db:
            rows = await db.fetch("SELECT COUNT(*) FROM events WHERE event = 'delivered'")
        return int(rows[0][0])

    return server.run(count())


def bench_send_cost(workdir: Path, receiver: ReceiverProcess, recipients: int) -> dict[str, Any]:
    without = with_plugin = queued_only = 0.0
    for round_ in range(2):  # alternated, best of each, so load on a shared machine hits all alike
        without = max(without, _pipeline_rate(workdir / f"plain{round_}", recipients, None))
        with_plugin = max(with_plugin, _pipeline_rate(workdir / f"hooks{round_}", recipients, receiver))
        queued_only = max(queued_only, _pipeline_rate(workdir / f"queued{round_}", recipients, receiver, "workers"))
    ratio, queued_ratio = with_plugin / without, queued_only / without
    print(f"webhooks send cost: {without:,.0f} recipients/s without the plugin; {with_plugin:,.0f} with it "
          f"delivering in the same process ({2 * recipients} POSTs a run): {ratio:.2f}×; {queued_only:,.0f} "
          f"with it queueing only (deliver = \"workers\": a postgate worker POSTs): {queued_ratio:.2f}× (target ≈ 1.0×)")
    return {"recipients": recipients, "without_per_s": without, "with_per_s": with_plugin, "ratio": ratio,
            "queued_only_per_s": queued_only, "queued_only_ratio": queued_ratio}


async def _drain_queue(workdir: Path, receiver: ReceiverProcess, posts: int) -> tuple[float, float]:
    """Queue ``posts`` deliveries, then let one delivery loop POST them all; returns the CPU
    seconds of this process and the wall seconds from the loop's start to the last POST read."""
    settings = make_settings(workdir, gateway={"workers": 0},
                             plugins={"webhooks": {"allow_private_targets": True, "deliver": False}})
    gateway = Gateway(settings, plugins=[webhooks_plugin], load_entrypoints=False)
    await gateway.start()
    try:
        await replace_urls(gateway.storage, TEST_DOMAIN, "delivered", [receiver.url])
        state = webhooks_for(gateway)
        state.subscriptions.invalidate()
        for start in range(0, posts, 500):
            await gateway.record_events([
                Event(domain=TEST_DOMAIN, event="delivered", recipient=f"m{n}@example.com", key=f"cpu-{n}",
                      message_id=f"{n}@mg.example.com", payload={"user-variables": {"bench-queued": time.time()}})
                for n in range(start, min(posts, start + 500))])
        receiver.reset()
        dispatcher = Dispatcher(gateway, state.settings)
        cpu, wall = time.process_time(), time.perf_counter()
        dispatcher.start()
        async with httpx.AsyncClient(timeout=30) as http:
            while len((await http.get(f"http://127.0.0.1:{receiver.port}/stats")).json()) < posts:
                await asyncio.sleep(0.25)
        await dispatcher.stop()
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await gateway.stop()


def bench_cpu_per_post(workdir: Path, receiver: ReceiverProcess, posts: int = 4000) -> dict[str, Any]:
    best = min((asyncio.run(_drain_queue(workdir / f"cpu{run}", receiver, posts)) for run in range(2)),
               key=lambda found: found[0])
    result = {"posts": posts, "cpu_ms_per_post": best[0] / posts * 1000, "posts_per_s": posts / best[1]}
    print(f"webhooks CPU per POST: {posts} queued deliveries drained by one delivery loop: "
          f"{result['cpu_ms_per_post']:.3f} ms of CPU per POST (the whole process), "
          f"{result['posts_per_s']:,.0f} POSTs/s (best of 2)")
    return result


def bench_webhooks(workdir: Path, events: int, recipients: int) -> dict[str, Any]:
    receiver = ReceiverProcess()
    try:
        return {"cpu_per_post": bench_cpu_per_post(workdir, receiver),
                "fanout": bench_fanout(workdir, receiver, events),
                "fanout_two_processes": bench_fanout(workdir, receiver, events, processes=2),
                "send_cost": bench_send_cost(workdir, receiver, recipients)}
    finally:
        receiver.close()
