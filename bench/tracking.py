"""``python -m bench --only tracking``: what open and click tracking costs.

1. **Render cost** (bench/tracking_render.py): a Ghost batch rendered as sent and as the tracking
   plugin prepares it, opens only and opens and clicks, as 7-bit and as base64 parts. Reported:
   microseconds per recipient as sent and each ratio (target: at most 1.2).
2. **Pixel hits**: in one run, four servers on loopback ports of this process, each fetched by a
   separate client process over 32 keep-alive connections, alternated round by round (best of
   each): a bare Hypercorn hello-world ASGI app (the ceiling of one process here), Quart's
   ``/healthcheck``, and two live gateways (SQLite, the plugin, an accepted 1000-recipient
   batch) answering signed pixel URLs through Quart's route (``fast_path = false``) and through
   the fast path. Reported: requests per second of each as ratios of the ceiling and of
   ``/healthcheck``, then the wait until every hit is stored, and the stored ``tracking_hits``
   rows and ``opened`` events, which must both equal the hits sent (nothing lost).
3. **Pixel latency**: after those rounds, one client process fetches pixels of both gateways one
   request at a time over a keep-alive connection (a new one, untimed, every 500 requests: Hypercorn
   closes one after 1000) and times each answer from its request's
   write to its body's last byte. That includes Hypercorn, the loopback and the client itself,
   so it is an upper bound on the server time of a hit (target: under 5 ms). Reported: median,
   95th and 99th percentile and the slowest, per gateway; those hits are stored and counted too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from postgate import Gateway
from postgate.domain import Batch, Message, Recipient
from postgate.render import Renderer
from postgate.testing.fixtures import TEST_DOMAIN, LiveServer, make_settings
from postgate_tracking import plugin
from postgate_tracking.marking import mark
from postgate_tracking.plugin import token_filler
from postgate_tracking.state import tracking_for
from postgate_tracking.tokens import Signer

from .ghost_form import ghost_batch, member_addresses
from .tracking_render import bench_render

KEYS = "b1:bench-secret-0123456789abcdef"
#: Rows rendered together, as the worker renders a claimed chunk (``chunk_size``'s default).
CHUNK = 100
BASE_URL = "https://email.mg.example.com"


CLIENT = textwrap.dedent('''
    import asyncio, sys, time
    port, connections, paths = int(sys.argv[1]), int(sys.argv[2]), sys.stdin.read().split()
    async def worker(mine, failures):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for path in mine:
            writer.write(f"GET {path} HTTP/1.1\\r\\nHost: email.mg.example.com\\r\\n"
                         "User-Agent: Mozilla/5.0 bench\\r\\n\\r\\n".encode())
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\\r\\n")[0])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                failures.append(head[:40])
        writer.close()
    async def main():
        failures = []
        started = time.perf_counter()
        await asyncio.gather(*(worker(paths[i::connections], failures) for i in range(connections)))
        print(time.perf_counter() - started, len(failures))
    asyncio.run(main())
''')


LATENCY_CLIENT = textwrap.dedent('''
    import json, socket, sys, time
    port, paths = int(sys.argv[1]), sys.stdin.read().split()
    took, failures = [], 0
    for index, path in enumerate(paths):
        if index % 500 == 0:  # a fresh connection, untimed: Hypercorn closes one after 1000 requests
            if index:
                conn.close()
            conn = socket.create_connection(("127.0.0.1", port))
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = conn.makefile("rb")
        request = (f"GET {path} HTTP/1.1\\r\\nHost: email.mg.example.com\\r\\n"
                   "User-Agent: Mozilla/5.0 bench\\r\\n\\r\\n").encode()
        started = time.perf_counter()
        conn.sendall(request)
        status, length = reader.readline(), 0
        while (line := reader.readline()) not in (b"\\r\\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        reader.read(length)
        took.append(time.perf_counter() - started)
        failures += not status.startswith(b"HTTP/1.1 200")
    took.sort()
    at = lambda share: took[min(len(took) - 1, int(share * len(took)))] * 1000
    print(json.dumps({"p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": took[-1] * 1000,
                      "requests": len(took), "failures": failures}))
''')


class HelloServer:
    """A bare ASGI hello-world under Hypercorn (Postgate's own ``serve_app``) on a loopback port,
    served from a thread like :class:`LiveServer`: the most one process can answer here."""

    def __init__(self) -> None:
        from postgate.testing.fixtures import free_port

        self.port = free_port()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    @staticmethod
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def _main(self) -> None:
        from postgate.server import serve_app

        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        await serve_app(self.app, "127.0.0.1", self.port, self._stop.wait)

    def start(self) -> HelloServer:
        self._thread.start()
        self._ready.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def tracking_server(workdir: Path, name: str, *, fast_path: bool) -> tuple[LiveServer, list[str]]:
    """A live gateway with the plugin and an accepted 1000-recipient batch, and its pixel paths."""
    os.environ["POSTGATE_TRACKING_KEYS"] = KEYS
    settings = make_settings(workdir / name, plugins={"tracking": {"base_url": BASE_URL, "fast_path": fast_path}})
    server = LiveServer(Gateway(settings, plugins=[plugin]), background=False).start()
    body, content_type = ghost_batch(TEST_DOMAIN, member_addresses(1000))
    server.run(_accept(server, body, content_type))
    rows = server.run(server.gateway.storage.list_recipients(1, 0, 1000))
    signer = tracking_for(server.gateway).signer
    return server, [f"/t/o/{signer.sign('o', 1, row.id)}.gif" for row in rows]


def settled(server: LiveServer, sent: int) -> dict[str, Any]:
    """Waits until the recorder reports ``sent`` hits stored; the rows and events then found."""
    answered = time.perf_counter()
    recorder = tracking_for(server.gateway).recorder
    while recorder.stored < sent and time.perf_counter() - answered < 120:
        time.sleep(0.02)
    return {"sent": sent, "settle_ms": (time.perf_counter() - answered) * 1000,
            "stored_rows": server.run(_count(server, "tracking_hits")), "opened_events": server.run(_count_opened(server)),
            "fast_answers": tracking_for(server.gateway).fast_hits}


def bench_pixels(workdir: Path, hits: int = 20000, connections: int = 32, rounds: int = 2,
                 sequential: int = 2000) -> dict[str, Any]:
    """Requests per second of four servers in the same run, alternated round by round (best of
    each): a bare Hypercorn hello-world, Quart's ``/healthcheck``, the pixel through Quart's route
    and the pixel through the fast path."""
    hello = HelloServer().start()
    quart, quart_paths = tracking_server(workdir, "tracking-quart", fast_path=False)
    fast, fast_paths = tracking_server(workdir, "tracking-fast", fast_path=True)
    best: dict[str, float] = {}
    failures = 0
    try:
        for _ in range(rounds):
            for label, port, paths in (("hello", hello.port, ["/"]), ("healthcheck", quart.port, ["/healthcheck"]),
                                       ("pixel_quart", quart.port, quart_paths), ("pixel_fast", fast.port, fast_paths)):
                seconds, failed = _fetch(port, [paths[i % len(paths)] for i in range(hits)], connections)
                failures += failed
                best[label] = max(best.get(label, 0.0), hits / seconds)
        latency = {label: _latency(port, [paths[i % len(paths)] for i in range(sequential)])
                   for label, port, paths in (("pixel_quart", quart.port, quart_paths),
                                              ("pixel_fast", fast.port, fast_paths))}
        sent = hits * rounds + sequential
        stored = {"pixel_quart": settled(quart, sent), "pixel_fast": settled(fast, sent)}
    finally:
        for server in (fast, quart, hello):
            server.stop()
    ceiling = best["hello"]
    print(f"tracking pixels over {connections} connections, best of {rounds} alternated rounds of {hits} "
          f"requests ({failures} answers not 200):")
    for label, meaning in (("hello", "bare Hypercorn hello-world ASGI (the ceiling)"),
                           ("healthcheck", "Quart /healthcheck"), ("pixel_quart", "pixel through Quart's route"),
                           ("pixel_fast", "pixel through the fast path")):
        print(f"  {meaning:48} {best[label]:7,.0f}/s  {best[label] / ceiling:.2f}× ceiling, "
              f"{best[label] / best['healthcheck']:.2f}× /healthcheck")
    for label, found in latency.items():
        print(f"  {label}: one request at a time, {found['requests']} requests ({found['failures']} not 200): "
              f"median {found['p50_ms']:.2f} ms, p95 {found['p95_ms']:.2f} ms, p99 {found['p99_ms']:.2f} ms, "
              f"slowest {found['max_ms']:.1f} ms (client-measured: an upper bound on server time; target 5 ms)")
    for label, found in stored.items():
        print(f"  {label}: {found['stored_rows']} hit rows and {found['opened_events']} opened events for "
              f"{found['sent']} hits, all stored {found['settle_ms']:.0f} ms after the last answer "
              f"({found['fast_answers']} answered by the fast path)")
    print(f"  target 2,000/s: {2000 / ceiling:.2f}× this machine's hello-world ceiling; the fast path is at "
          f"{best['pixel_fast'] / 2000:.2f}× the target")
    return {"hits": hits, "rounds": rounds, "per_second": best, "failures": failures, "latency": latency,
            "stored": stored}


def _latency(port: int, paths: list[str]) -> dict[str, Any]:
    """Per-request times of one client fetching ``paths`` one after another (see LATENCY_CLIENT)."""
    import json

    done = subprocess.run([sys.executable, "-c", LATENCY_CLIENT, str(port)], input="\n".join(paths),
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout)


def _fetch(port: int, paths: list[str], connections: int) -> tuple[float, int]:
    """Seconds the client process took to GET every path, and how many answers were not 200."""
    done = subprocess.run([sys.executable, "-c", CLIENT, str(port), str(connections)],
                          input="\n".join(paths), capture_output=True, text=True, timeout=600, check=True)
    seconds, failures = done.stdout.split()
    return float(seconds), int(failures)


async def _accept(server: LiveServer, body: bytes, content_type: str) -> None:
    import httpx

    from postgate.testing.fixtures import basic_auth

    async with httpx.AsyncClient(base_url=server.url, headers=basic_auth(), timeout=60) as http:
        answer = await http.post(f"/v3/{TEST_DOMAIN}/messages", content=body,
                                 headers={"Content-Type": content_type})
        answer.raise_for_status()


async def _count(server: LiveServer, table: str) -> int:
    async with server.gateway.storage.session() as db:
        rows = await db.fetch(f"SELECT COUNT(*) FROM {table}")
    return int(rows[0][0])


async def _count_opened(server: LiveServer) -> int:
    async with server.gateway.storage.session() as db:
        rows = await db.fetch("SELECT COUNT(*) FROM events WHERE event = 'opened'")
    return int(rows[0][0])


def bench_tracking(workdir: Path, hits: int) -> dict[str, Any]:
    return {"render": bench_render(), "pixels": bench_pixels(workdir, hits)}
