"""``python -m bench --only scaleout``: aggregate send rate of 1, 2, 3… worker processes.

The production shape, as separate processes: one API process (``postgate serve --workers 0``)
and N ``postgate worker`` processes, all configured by one ``postgate.toml``: ``mysql`` storage
(a scratch database ``pgbench_<random>`` on the MariaDB server, dropped afterwards), the ``sqs``
queue on :mod:`bench.sqs_standin` (jobs of 50 rows; ``tests/e2e/test_scaleout.py`` uses moto) and the ``ses`` delivery pointed at
:class:`~postgate_ses.standin.SesStandin`, a local SES v2 stand-in that answers at once and
records when each send arrived. moto's own SES is far too slow to measure a send rate against.

For each ``max_send_rate`` and each number of workers, the workers are started (the rate comes
from ``POSTGATE_PLUGINS__SES__MAX_SEND_RATE`` in their environment), a small batch warms them up,
then Ghost batches of 1000 recipients are POSTed. Reported: recipients/s from the first POST
until the last of them arrived at the stand-in, and the most sends the stand-in saw within any
one-second sliding window of the run (warm-up included), which must never exceed the rate.
:func:`run_scaleout` is also what ``tests/e2e/test_scaleout.py`` runs, as a correctness check.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, basic_auth, free_port
from postgate_ses.standin import SesStandin, busiest_window

from .aws import DUMMY_AWS, REGION
from .ghost_form import ghost_batch, member_addresses
from .ingest import SqsStandinProcess

#: Ghost sends at most this many recipients per POST.
GHOST_BATCH = 1000
#: botocore puts ``AWS_SDK_UA_APP_ID`` into the User-Agent as ``app/<id>``: it names the worker.
APP_ID = re.compile(r"\bapp/(\S+)")


# -- the stack -----------------------------------------------------------------------------------


@dataclass
class Process:
    """A ``postgate`` child process in its own session, its output in ``<name>.log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU time the process used so far (Linux ``/proc``; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (workers finish or release what they hold), SIGKILL after ``timeout``."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(30)


class ScaleoutStack:
    """One installation: the jobs queue on moto, a MariaDB database, the SES stand-in, and the
    API and worker processes configured by ``<folder>/postgate.toml``."""

    def __init__(self, folder: Path, *, aws_url: str, mysql_url: str, standin: SesStandin,
                 lease_seconds: float = 30.0, jobs_per_worker: int = 4, html_kb: int = 0) -> None:
        import boto3

        self.folder = folder
        self.aws_url = aws_url
        self.mysql_url = mysql_url
        self.standin = standin
        self.html_kb = html_kb  # newsletter size of the Ghost batches posted
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api: Process | None = None
        self.workers: list[Process] = []
        sqs = boto3.client("sqs", endpoint_url=aws_url, region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        self.queue_url = sqs.create_queue(QueueName=f"pgbench-jobs-{secrets.token_hex(4)}",
                                          Attributes={"VisibilityTimeout": str(int(lease_seconds))})["QueueUrl"]
        self.config = self._write_config(lease_seconds, jobs_per_worker)

    def _write_config(self, lease_seconds: float, jobs_per_worker: int) -> Path:
        tables: dict[str, dict[str, Any]] = {
            f"domains.{json.dumps(TEST_DOMAIN)}": {"api_key": TEST_KEY},
            "gateway": {"host": "127.0.0.1", "port": self.port, "public_url": self.url, "workers": 0,
                        "jobs_per_worker": jobs_per_worker, "job_size": 50, "lease_seconds": lease_seconds,
                        "retry_delays": [1.0, 2.0, 4.0], "migrate_on_start": False},
            "backends": {"storage": "mysql", "queue": "sqs", "delivery": "ses", "event_sources": []},
            "plugins.mysql": {"url": self.mysql_url, "maxsize": 5},
            "plugins.sqs": {"queue_url": self.queue_url, "region": REGION, "endpoint_url": self.aws_url,
                            "wait_seconds": 1, "visibility_timeout": int(lease_seconds)},
            "plugins.ses": {"region": REGION, "endpoint_url": self.standin.url, "send_threads": 8,
                            "in_doubt_grace_seconds": 60.0},
        }
        lines = ['load_plugins = ["ses", "sqs", "mysql"]', f"data_dir = {json.dumps(str(self.folder / 'data'))}", ""]
        for table, values in tables.items():
            lines.append(f"[{table}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
            lines.append("")
        path = self.folder / "postgate.toml"
        path.write_text("\n".join(lines))
        return path

    # -- processes ------------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGATE_", "AWS_"))}
        env.update(DUMMY_AWS, POSTGATE_CONFIG=str(self.config), PYTHONUNBUFFERED="1", **extra)
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        log = self.folder / f"{name}.log"
        with log.open("ab") as handle:
            popen = subprocess.Popen([sys.executable, "-m", "postgate", *args], stdout=handle,
                                     stderr=subprocess.STDOUT, env=env, cwd=self.folder, start_new_session=True)
        return Process(name, popen, log)

    def migrate(self) -> None:
        done = subprocess.run([sys.executable, "-m", "postgate", "migrate"], env=self.env(), cwd=self.folder,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"postgate migrate failed:\n{done.stdout}\n{done.stderr}")

    def start_api(self, timeout: float = 180) -> None:
        self.api = self._spawn("api", ["serve", "--workers", "0"], self.env())
        _wait(lambda: self._healthy() or not self.api.alive(), timeout, "the API process")
        if not self.api.alive():
            raise RuntimeError(f"postgate serve stopped:\n{self.api.output()[-3000:]}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthcheck", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def start_workers(self, count: int, rate: float, timeout: float = 180, **env: str) -> None:
        """``count`` worker processes sending at most ``rate`` messages/s between them (``env``:
        more variables for them, e.g. ``POSTGATE_PLUGINS__SES__SEND_CLIENT``)."""
        for index in range(count):
            name = f"worker{index + 1}"
            self.workers.append(self._spawn(name, ["worker", "--workers", "1"], self.env(
                POSTGATE_PLUGINS__SES__MAX_SEND_RATE=str(rate), AWS_SDK_UA_APP_ID=name, **env)))
        for proc in self.workers:
            _wait(lambda p=proc: "worker running" in p.output() or not p.alive(), timeout, proc.name)
            if not proc.alive():
                raise RuntimeError(f"postgate worker {proc.name} stopped:\n{proc.output()[-3000:]}")

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.alive():
                os.kill(proc.popen.pid, signal.SIGTERM)
        for proc in self.workers:
            proc.stop()
        self.workers = []

    def close(self) -> None:
        self.stop_workers()
        if self.api is not None:
            self.api.stop()

    # -- requests and what happened -------------------------------------------------------------

    def post(self, addresses: list[str], email_id: str) -> None:
        body, content_type = ghost_batch(TEST_DOMAIN, addresses, email_id, self.html_kb)
        request = urllib.request.Request(f"{self.url}/v3/{TEST_DOMAIN}/messages", data=body, method="POST",
                                         headers={**basic_auth(), "Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=120) as response:
            if response.status != 200:
                raise RuntimeError(f"accept answered {response.status}")

    def ledger_statuses(self, addresses: list[str]) -> collections.Counter[str]:
        """Ledger rows of ``addresses`` by status."""
        rows = _query(self.mysql_url, "SELECT address, status FROM recipients")
        wanted = {a.lower() for a in addresses}
        return collections.Counter(str(status) for address, status in rows if str(address).lower() in wanted)

    def logs(self) -> str:
        procs = ([self.api] if self.api else []) + self.workers
        return "\n".join(f"==== {p.name} ====\n{p.output()[-2500:]}" for p in procs)


# -- one run -------------------------------------------------------------------------------------


@dataclass
class ScaleoutRun:
    """What one run of N workers at one rate came to."""

    workers: int
    rate: float
    recipients: int
    seconds: float  # first POST → last of its sends at the stand-in
    recipients_per_s: float
    busiest_second: int  # most sends in any one-second window (warm-up included)
    sends: int  # every send the stand-in saw in the run (warm-up included)
    duplicates: int  # recipients sent more than once
    missing: int  # recipients never sent
    per_worker: dict[str, int] = field(default_factory=dict)  # sends per worker process
    worker_cpu_seconds: float = 0.0  # CPU of every worker process from the first POST to the end

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_scaleout(stack: ScaleoutStack, *, workers: int, rate: float, recipients: int, warmup: int = 0,
                 timeout: float | None = None, env: dict[str, str] | None = None) -> ScaleoutRun:
    """Start ``workers`` processes at ``rate``, send ``recipients`` (after ``warmup`` recipients
    that are not timed) through them, stop them; what the stand-in saw."""
    standin = stack.standin
    standin.clear()
    warm = member_addresses(warmup)  # addresses carry the time: each run has its own
    addresses = member_addresses(recipients, offset=warmup)
    timeout = timeout or 120 + 3 * recipients / min(rate, 100)
    stack.start_workers(workers, rate, **(env or {}))
    try:
        if warm:
            stack.post(warm, secrets.token_hex(12))
            _wait_seen(standin, warm, timeout, "the warm-up sends")
        started, cpu = time.time(), sum(p.cpu_seconds() for p in stack.workers)
        for first in range(0, recipients, GHOST_BATCH):
            stack.post(addresses[first:first + GHOST_BATCH], secrets.token_hex(12))
        _wait_seen(standin, addresses, timeout, f"{recipients} sends", stack)
        _wait(lambda: stack.ledger_statuses(addresses)["sent"] == recipients, 60, "the ledger to record the sends")
        cpu = sum(p.cpu_seconds() for p in stack.workers) - cpu
    finally:
        stack.stop_workers()
    sends = standin.sends()
    mine = {a.lower() for a in addresses}
    finished = max(s.at for s in sends if s.recipient.lower() in mine)
    counts = collections.Counter(s.recipient.lower() for s in sends)
    seconds = finished - started
    per_worker = collections.Counter(m.group(1) if (m := APP_ID.search(s.agent)) else "?" for s in sends)
    return ScaleoutRun(
        workers=workers, rate=rate, recipients=recipients, seconds=seconds,
        recipients_per_s=recipients / seconds, busiest_second=busiest_window([s.at for s in sends]),
        sends=len(sends), duplicates=sum(1 for a in [*warm, *addresses] if counts[a.lower()] > 1),
        missing=sum(1 for a in [*warm, *addresses] if counts[a.lower()] == 0), per_worker=dict(per_worker),
        worker_cpu_seconds=cpu,
    )


# -- the bench figure ----------------------------------------------------------------------------


def bench_scaleout(workdir: Path, *, recipients: int, rates: list[float], worker_counts: list[int],
                   mysql_url: str, latency: float = 0.0) -> list[dict[str, Any]]:
    folder = workdir / "scaleout"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"pgbench_{secrets.token_hex(6)}"
    results: list[dict[str, Any]] = []
    sqs = standin = stack = None
    _query(mysql_url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        sqs = SqsStandinProcess()
        standin = SesStandin(latency=latency).start()
        stack = ScaleoutStack(folder, aws_url=sqs.url, mysql_url=mysql_url.rstrip("/") + "/" + name,
                              standin=standin)
        stack.migrate()
        stack.start_api()
        for rate in rates:
            base = None
            for count in worker_counts:
                run = run_scaleout(stack, workers=count, rate=rate, recipients=recipients, warmup=20 * count)
                base = base or run.recipients_per_s
                results.append(run.as_dict())
                verdict = "ok" if run.busiest_second <= rate else "EXCEEDS THE RATE"
                print(f"scaleout rate {rate:>7,.0f}/s  {count} worker(s): {run.recipients_per_s:7,.0f} recipients/s "
                      f"({recipients} in {run.seconds:.2f} s; x{run.recipients_per_s / base:.2f} of 1 worker, "
                      f"{run.recipients_per_s / rate:.2f} of the rate)  "
                      f"busiest 1-s window {run.busiest_second} sends ({verdict}); "
                      f"duplicates {run.duplicates}, missing {run.missing}; "
                      f"per worker {dict(sorted(run.per_worker.items()))}", flush=True)
                time.sleep(1.5)  # the last grants leave the shared window before the next run
    finally:
        if stack is not None:
            stack.close()
        if standin is not None:
            standin.stop()
        if sqs is not None:
            sqs.stop()
        _query(mysql_url, f"DROP DATABASE IF EXISTS `{name}`")
    return results


# -- helpers -------------------------------------------------------------------------------------


def _wait(check: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _wait_seen(standin: SesStandin, addresses: list[str], timeout: float, what: str,
               stack: ScaleoutStack | None = None) -> None:
    missing = {a.lower() for a in addresses}
    checked = 0

    def seen() -> bool:
        # Only the sends that arrived since the last look: the stand-in answers from a thread of
        # this process, so a full rescan every 50 ms would hold the GIL it answers with.
        nonlocal checked
        sends = standin.sends_since(checked)
        checked += len(sends)
        missing.difference_update(s.recipient.lower() for s in sends)
        return not missing

    try:
        _wait(seen, timeout, what, interval=0.05)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}\n{stack.logs() if stack else ''}") from None


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one statement on the server of ``url`` (in its database, if it names one)."""
    parts = urllib.parse.urlparse(url)

    async def run() -> list[tuple[Any, ...]]:
        import asyncmy

        connection = await asyncmy.connect(
            host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
            user=urllib.parse.unquote(parts.username or "root"), password=urllib.parse.unquote(parts.password or ""),
            db=parts.path.lstrip("/") or None, autocommit=True)
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(sql)
                return list(await cursor.fetchall())
        finally:
            await connection.ensure_closed()

    return asyncio.run(run())
