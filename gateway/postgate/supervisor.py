"""Worker processes started and supervised by ``postgate serve`` (``gateway.worker_processes``).

Each child runs ``python -m postgate worker`` with the same configuration (the ``--config`` file,
the environment), so it is exactly the process an operator could start by hand. A child that
ends while the server runs (a crash, an out-of-memory kill) is started again after a pause that
doubles while it keeps failing. On shutdown every child gets SIGTERM, finishes or releases what it
holds (see ``Worker.run``) and is waited for; only one still running after ``stop_timeout`` is
killed. A child also stops by itself when its supervisor is gone (``SUPERVISOR_ENV``), so a
killed server leaves no orphan sending mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

log = logging.getLogger("postgate.supervisor")

#: Set in a child's environment to its supervisor's pid; the child stops when its parent changes.
SUPERVISOR_ENV = "PGSUPERVISOR_PID"
#: First pause before restarting a child that ended, doubled per failure in a row, up to the max.
RESTART_DELAY = 1.0
RESTART_DELAY_MAX = 30.0
#: A child that ran this long before ending starts again after the first pause.
STABLE_SECONDS = 60.0


def worker_command(config: str | Path | None, loops: int) -> list[str]:
    """The command line of one worker process."""
    command = [sys.executable, "-m", "postgate", "worker", "--workers", str(loops)]
    if config is not None:
        command += ["--config", str(Path(config).resolve())]
    return command


class WorkerProcesses:
    """``count`` supervised ``postgate worker`` children, each with ``loops`` worker loops."""

    def __init__(self, count: int, loops: int, config: str | Path | None = None, *,
                 stop_timeout: float = 30.0, env: dict[str, str] | None = None) -> None:
        self.count = count
        self.command = worker_command(config, loops)
        #: Variables added to each child's environment (``serve`` passes its ``--host``/``--port``).
        self.env = dict(env or {})
        self.stop_timeout = stop_timeout
        self.children: dict[int, asyncio.subprocess.Process] = {}
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every child and the task that keeps each one running."""
        self._stopping.clear()
        for index in range(self.count):
            await self._spawn(index)
            self._tasks.append(asyncio.create_task(self._supervise(index), name=f"worker-process-{index + 1}"))
        log.info("started %d worker process(es): %s", self.count, " ".join(self.command[1:]))

    async def _spawn(self, index: int) -> None:
        # The server migrated the storage before its children start: they never migrate at once.
        env = {**os.environ, **self.env, SUPERVISOR_ENV: str(os.getpid()),
               "POSTGATE_GATEWAY__MIGRATE_ON_START": "false"}
        # Own session: a terminal's Ctrl-C reaches the server only, which then stops each child
        # itself (a child gone before the server knows it is stopping would be restarted).
        self.children[index] = await asyncio.create_subprocess_exec(*self.command, env=env, start_new_session=True)

    async def _supervise(self, index: int) -> None:
        failures = 0
        while True:
            child = self.children[index]
            started = time.monotonic()
            code = await child.wait()
            if self._stopping.is_set():
                return
            failures = 1 if time.monotonic() - started >= STABLE_SECONDS else failures + 1
            delay = min(RESTART_DELAY_MAX, RESTART_DELAY * 2 ** (failures - 1))
            log.error("worker process %d (pid %d) ended with exit code %s; starting it again in %.0f s",
                      index + 1, child.pid, code, delay)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            await self._spawn(index)
            log.info("worker process %d started again (pid %d)", index + 1, self.children[index].pid)

    async def stop(self) -> None:
        """SIGTERM every child and wait for them (SIGKILL after ``stop_timeout``)."""
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        running = [child for child in self.children.values() if child.returncode is None]
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        if not running:
            return
        _, late = await asyncio.wait([asyncio.ensure_future(child.wait()) for child in running],
                                     timeout=self.stop_timeout)
        for child in running:
            if child.returncode is None:
                log.error("worker process pid %d still running %.0f s after SIGTERM; killing it",
                          child.pid, self.stop_timeout)
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
        for waiter in late:
            waiter.cancel()


async def stop_when_orphaned(stop: asyncio.Event, interval: float = 1.0) -> None:
    """Set ``stop`` once the supervisor named by ``SUPERVISOR_ENV`` is no longer the parent."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if not supervisor or not supervisor.isdigit():
        return
    while not stop.is_set():
        if os.getppid() != int(supervisor):
            log.error("the postgate serve process that started this worker is gone; stopping")
            stop.set()
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
