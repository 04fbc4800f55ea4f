"""``python -m bench --only memory``: peak memory of ``postgate serve`` through a whole newsletter.

``postgate serve`` runs as its own process (the embedded default: SQLite storage, the local
queue, outbox delivery, worker loops in the same process), configured by a ``postgate.toml`` in
a temporary folder. The bench POSTs the newsletter as Ghost sends it, batches of 1000 one after
the other, each with its own recipients, builds each body just before it is sent (so nothing of
the client is in the server's memory), and waits until the storage holds one ``delivered`` event
per recipient. The serving process's ``VmRSS`` is read from ``/proc`` after every batch and while
the worker drains; the figure is ``VmHWM``, the kernel's record of the process's peak resident
set, read at the end (and the same for every child process, should ``serve`` start any).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, basic_auth, free_port

from .ghost_form import ghost_batch, member_addresses

MIB = 1024 * 1024


def proc_memory(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of ``pid`` in bytes (0 once it is gone)."""
    values = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in values:
                values[name] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return values


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


def write_config(folder: Path, port: int, workers: int) -> Path:
    path = folder / "postgate.toml"
    path.write_text("\n".join([
        f"data_dir = {json.dumps(str(folder / 'data'))}",
        "",
        f"[domains.{json.dumps(TEST_DOMAIN)}]",
        f"api_key = {json.dumps(TEST_KEY)}",
        "",
        "[gateway]",
        'host = "127.0.0.1"',
        f"port = {port}",
        f"workers = {workers}",
        "",
    ]))
    return path


def delivered(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM events WHERE event = 'delivered'").fetchone()[0])
    except sqlite3.Error:
        return 0


def bench_memory(workdir: Path, recipients: int = 50_000, batch: int = 1000, workers: int = 1) -> dict[str, Any]:
    folder = workdir / "memory"
    folder.mkdir(parents=True)
    port = free_port()
    config = write_config(folder, port, workers)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(POSTGATE_CONFIG=str(config), PYTHONUNBUFFERED="1")
    log = (folder / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "postgate", "serve"], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    trace: list[tuple[int, int]] = []  # (recipients accepted, VmRSS)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthcheck", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"postgate serve did not start:\n{(folder / 'serve.log').read_text()[-3000:]}")
                time.sleep(0.2)
        idle = proc_memory(proc.pid)["VmRSS"]
        started = time.perf_counter()
        for start in range(0, recipients, batch):
            body, content_type = ghost_batch(TEST_DOMAIN, member_addresses(min(batch, recipients - start), offset=start))
            request = urllib.request.Request(f"{url}/v3/{TEST_DOMAIN}/messages", data=body, method="POST",
                                             headers={**basic_auth(), "Content-Type": content_type})
            with urllib.request.urlopen(request, timeout=300) as response:
                if response.status != 200:
                    raise RuntimeError(f"accept answered {response.status}")
            del body
            trace.append((start + batch, proc_memory(proc.pid)["VmRSS"]))
        db = folder / "data" / "postgate.sqlite3"
        done_at = time.monotonic() + max(600.0, recipients / 20)
        while (count := delivered(db)) < recipients:
            if time.monotonic() > done_at or proc.poll() is not None:
                raise RuntimeError(f"only {count} of {recipients} delivered")
            trace.append((recipients, proc_memory(proc.pid)["VmRSS"]))
            time.sleep(1.0)
        elapsed = time.perf_counter() - started
        memory = proc_memory(proc.pid)
        peaks = {f"child {pid}": proc_memory(pid)["VmHWM"] for pid in children(proc.pid)}
        written = sum(1 for _ in (folder / "data" / "outbox").rglob("*.eml"))
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        log.close()
    peak_rss = max(rss for _, rss in trace)
    result = {"recipients": recipients, "batches": -(-recipients // batch), "seconds": elapsed,
              "idle_rss": idle, "peak_hwm": memory["VmHWM"], "final_rss": memory["VmRSS"],
              "sampled_peak_rss": peak_rss, "children_hwm": peaks, "eml": written,
              "rss_after_batches": [(n, rss) for n, rss in trace[: -(-recipients // batch)]][9::10]}
    print(f"memory  {recipients:,} recipients in {result['batches']} Ghost batches through `postgate serve` "
          f"({workers} worker loop(s), {written:,} .eml, {elapsed:.0f} s): peak RSS (VmHWM) "
          f"{memory['VmHWM'] / MIB:.0f} MiB; idle {idle / MIB:.0f} MiB, at the end {memory['VmRSS'] / MIB:.0f} MiB; "
          f"RSS after every 10 batches: "
          + ", ".join(f"{rss / MIB:.0f}" for _, rss in result["rss_after_batches"])
          + (f"; child processes: {', '.join(f'{k} {v / MIB:.0f} MiB' for k, v in peaks.items())}" if peaks else ""))
    return result
