"""Separate Postgate processes to kill (imported by ``test_crash_safety.py``).

:class:`Stack` writes a ``postgate.toml`` into a test folder and runs ``postgate serve --workers 0``
and ``postgate worker`` as their own processes (own sessions, output to ``<name>.log``), so a test
can ``SIGKILL`` any of them at a random moment and start it again. What happened is read from the
outside only: the ledger (SQLite file or MariaDB), the outbox folder, moto's stored messages.
"""

from __future__ import annotations

import collections
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from postgate.backends import IN_FLIGHT
from postgate.testing.fixtures import free_port

PYTHON = sys.executable
DOMAIN = "mg.example.com"
API_KEY = "key-crash-safety"
TERMINAL = ("sent", "delivered", "failed", "suppressed")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL by this process's own pid: no shutdown code runs."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)

    def stop(self) -> None:
        if self.alive():
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def toml_lines(table: str | None, values: dict[str, Any]) -> list[str]:
    lines = [f"[{table}]"] if table else []
    lines += [f"{key} = {json.dumps(value)}" for key, value in values.items() if value is not None]
    return lines + [""]


class Stack:
    """One installation: a config file, an API process and worker processes."""

    def __init__(self, folder: Path, *, gateway: dict[str, Any] | None = None,
                 backends: dict[str, Any] | None = None, plugins: dict[str, dict[str, Any]] | None = None,
                 load_plugins: Iterable[str] = (), env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = folder / "data"
        self.outbox = folder / "outbox"
        self.procs: list[Proc] = []
        self.extra_env = env or {}
        gateway_values = {"host": "127.0.0.1", "port": self.port, "workers": 0, "lease_seconds": 2.0,
                          "retry_delays": [0.5, 1.0, 1.0, 2.0, 2.0, 4.0], "jobs_per_worker": 2, **(gateway or {})}
        backend_values = {"queue": "local", "delivery": "outbox", "storage": "sqlite", **(backends or {})}
        plugin_values = {"outbox": {"folder": str(self.outbox)}, **(plugins or {})}
        lines = toml_lines(None, {"load_plugins": list(load_plugins), "data_dir": str(self.data)})
        lines += toml_lines(f'domains."{DOMAIN}"', {"api_key": API_KEY})
        lines += toml_lines("gateway", gateway_values)
        lines += toml_lines("backends", backend_values)
        for name, values in plugin_values.items():
            lines += toml_lines(f"plugins.{name}", values)
        self.config = folder / "postgate.toml"
        self.config.write_text("\n".join(lines))
        self.storage = backend_values["storage"]
        self.mysql_url = plugin_values.get("mysql", {}).get("url")

    # -- processes ------------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGATE_", "PGFAULT_"))}
        env.update({"POSTGATE_CONFIG": str(self.config), "PYTHONUNBUFFERED": "1", **self.extra_env, **extra})
        return env

    def spawn(self, name: str, args: list[str], **env: str) -> Proc:
        log = self.folder / f"{name}.log"
        with log.open("ab") as handle:
            popen = subprocess.Popen([PYTHON, "-m", "postgate", *args], stdout=handle, stderr=subprocess.STDOUT,
                                     env=self.env(**env), cwd=self.folder, start_new_session=True)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def migrate(self) -> None:
        done = subprocess.run([PYTHON, "-m", "postgate", "migrate"], env=self.env(), cwd=self.folder,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"postgate migrate failed: {done.stdout}\n{done.stderr}"

    def start_api(self) -> Proc:
        proc = self.spawn("api", ["serve", "--workers", "0"])
        self.wait_for(lambda: self.healthy() or not proc.alive(), timeout=120, what="the API")
        assert proc.alive(), proc.output()[-3000:]
        return proc

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthcheck", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(self, name: str = "worker", wait: bool = True, **env: str) -> Proc:
        proc = self.spawn(name, ["worker", "--workers", "1"], **env)
        if wait:
            self.wait_for(lambda: "worker running" in proc.output() or not proc.alive(), timeout=120,
                          what=f"worker {name}")
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()

    def logs(self, name_prefix: str = "") -> str:
        seen, out = set(), []
        for proc in self.procs:
            if proc.name.startswith(name_prefix) and proc.log not in seen:
                seen.add(proc.log)
                out.append(proc.output())
        return "\n".join(out)

    # -- the API --------------------------------------------------------------------------------

    def post(self, addresses: list[str], email_id: str, timeout: float = 30) -> int:
        """POST one Ghost-like batch; the HTTP status, or 0 if the connection failed."""
        data = {
            "from": f"Blog <noreply@{DOMAIN}>", "to": addresses, "subject": "Hello %recipient.name%",
            "text": "Hi %recipient.name%", "recipient-variables": json.dumps({a: {"name": a} for a in addresses}),
            "v:email-id": email_id, "o:tag": "bulk-email",
        }
        try:
            response = httpx.post(f"{self.url}/v3/{DOMAIN}/messages", data=data, auth=("api", API_KEY),
                                  timeout=timeout)
        except httpx.HTTPError:
            return 0
        return response.status_code

    # -- what happened --------------------------------------------------------------------------

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        if self.storage == "mysql":
            from aws_harness import Mysql

            return Mysql(self.mysql_url).query(sql.replace("?", "%s"), args)
        connection = sqlite3.connect(self.data / "postgate.sqlite3", timeout=30)
        try:
            return connection.execute(sql, tuple(args)).fetchall()
        finally:
            connection.close()

    def ledger(self) -> list[tuple[int, str, str, str | None, str | None]]:
        """``(id, address, status, provider_id, error)`` of every row."""
        return [tuple(row) for row in self.query(
            "SELECT id, address, status, provider_id, error FROM recipients ORDER BY id")]  # type: ignore[misc]

    def in_doubt(self) -> tuple[int, int]:
        """Rows marked in flight (handed over, answer not recorded) and rows merely claimed."""
        rows = self.query("SELECT error FROM recipients WHERE status = 'sending'")
        marked = sum(1 for (error,) in rows if error == IN_FLIGHT)
        return marked, len(rows)

    def in_flight_ids(self) -> set[int]:
        """Rows marked in flight right now (handed over, answer not recorded)."""
        return {row_id for row_id, in self.query("SELECT id FROM recipients WHERE status = 'sending' AND error = ?",
                                                  (IN_FLIGHT,))}

    def wait_terminal(self, count: int, timeout: float) -> list[tuple[Any, ...]]:
        def done() -> list[tuple[Any, ...]] | None:
            rows = self.ledger()
            return rows if len(rows) >= count and all(r[2] in TERMINAL for r in rows) else None

        return self.wait_for(done, timeout=timeout, what=f"{count} ledger rows terminal")

    def outbox_sends(self) -> collections.Counter[str]:
        """Messages in the outbox per recipient address (from each file's ``To``)."""
        counts: collections.Counter[str] = collections.Counter()
        for path in self.outbox.glob("*/*.eml"):
            with path.open("rb") as handle:
                for line in handle:
                    if line.lower().startswith(b"to:"):
                        counts[line[3:].strip().decode().strip("<>").lower()] += 1
                        break
                    if not line.strip():
                        break
        return counts

    def wait_for(self, check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                tail = "\n".join(f"==== {p.name} ====\n{p.output()[-2500:]}" for p in self.procs[-4:])
                pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{tail}")
            time.sleep(interval)


def kill_at_random(proc: Proc, low: float, high: float, rng: random.Random) -> float:
    """SIGKILL ``proc`` after a random delay; return the delay."""
    delay = rng.uniform(low, high)
    time.sleep(delay)
    proc.kill()
    assert proc.popen.returncode == -signal.SIGKILL
    return delay


def moto_raw(aws: Any, attempts: int = 10) -> list[dict[str, Any]]:
    """moto's stored raw messages; ``/moto-api/data.json`` sometimes answers 500 while moto is
    busy storing (it iterates live dicts), so it is read again."""
    import urllib.error

    for attempt in range(attempts):
        try:
            return aws.raw_messages()
        except urllib.error.HTTPError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)
    return []


class SendEventPump:
    """Plays SES's ``Send`` event publishing: each message moto stored gets a realistic ``Send``
    record (its moto ``MessageId``, ``pg_batch``/``pg_rcpt`` tags from the ledger) on the SNS
    topic, which moto fans out to the events queue the ``ses`` event source reads."""

    def __init__(self, stack: Stack, aws: Any, topic: str, interval: float = 0.3) -> None:
        self.stack, self.aws, self.topic, self.interval = stack, aws, topic, interval
        self.published: set[str] = set()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="send-event-pump", daemon=True)

    def __enter__(self) -> SendEventPump:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        from postgate_ses.testing import ses_record

        sns = self.aws.client("sns")
        try:
            while not self._stop.is_set():
                fresh = [m for m in moto_raw(self.aws) if m["id"] not in self.published]
                if fresh:
                    rows = {address.lower(): (row_id, batch_id) for row_id, batch_id, address in
                            self.stack.query("SELECT id, batch_id, address FROM recipients")}
                    records = []
                    for message in fresh:
                        address = message["destinations"][0].lower()
                        if address in rows:
                            row_id, batch_id = rows[address]
                            records.append(ses_record("Send", message["id"], address, rcpt_id=row_id,
                                                      batch_id=batch_id, offset=0))
                            self.published.add(message["id"])
                    for start in range(0, len(records), 10):
                        entries = [{"Id": str(i), "Message": json.dumps(r)}
                                   for i, r in enumerate(records[start:start + 10])]
                        sns.publish_batch(TopicArn=self.topic, PublishBatchRequestEntries=entries)
                self._stop.wait(self.interval)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


# -- a private MariaDB ---------------------------------------------------------------------------


class PrivateMariadb:
    """A throwaway ``mariadbd`` on its own data folder, socket and port (never the shared server)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.datadir = folder / "mariadb"
        self.socket = Path(tempfile.mkdtemp(prefix="pgmdb")) / "mysqld.sock"  # short: sun_path limit
        self.port = free_port()
        self.log = folder / "mariadbd.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.url = f"mysql://root:@127.0.0.1:{self.port}/postgate_crash"

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists()) and bool(
            shutil.which("mariadb-install-db"))

    def install(self) -> None:
        done = subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--auth-root-authentication-method=normal",
             "--skip-test-db", "--user=root"], capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        binary = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        with self.log.open("ab") as handle:
            self.popen = subprocess.Popen(
                [binary, "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
                 f"--port={self.port}", "--bind-address=127.0.0.1", "--user=root", "--skip-grant-tables",
                 "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", "--skip-log-bin",
                 f"--pid-file={self.folder / 'mariadbd.pid'}"],
                stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while not self.ready():
            assert self.popen.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the private mariadbd did not come up"
            time.sleep(0.2)

    def ready(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def create_database(self) -> None:
        from aws_harness import Mysql

        Mysql(self.url.rsplit("/", 1)[0] + "/mysql").query(
            "CREATE DATABASE IF NOT EXISTS postgate_crash CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(30)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.socket.parent, ignore_errors=True)
