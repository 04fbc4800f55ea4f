"""An API process and ``postgate worker`` processes sharing one ``multiprocess_dir``, as in
production (compose services or ``postgate-worker@N`` units on one host)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from postgate.testing.fixtures import free_port

API_KEY = "key-metrics-stack"


class Stack:
    """``postgate.toml`` in ``folder``; processes started with ``python -m postgate``."""

    def __init__(self, folder: Path, metrics: dict[str, object]) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        table = {"listen": f"127.0.0.1:{self.metrics_port}", **metrics}
        lines = [
            'load_plugins = ["metrics"]',
            f"data_dir = {json.dumps(str(folder / 'data'))}",
            '[domains."mg.example.com"]', f'api_key = "{API_KEY}"',
            "[gateway]", 'host = "127.0.0.1"', f"port = {self.port}", "workers = 0", "lease_seconds = 2.0",
            "[plugins.outbox]", f"folder = {json.dumps(str(folder / 'outbox'))}",
            "[plugins.metrics]", *[f"{key} = {json.dumps(value)}" for key, value in table.items()],
        ]
        self.config = folder / "postgate.toml"
        self.config.write_text("\n".join(lines) + "\n")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGATE_", "PROMETHEUS_"))}
        return {**env, "POSTGATE_CONFIG": str(self.config), "PYTHONUNBUFFERED": "1"}

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def spawn(self, name: str, *args: str, ready: str | None = None) -> None:
        with (self.folder / f"{name}.log").open("ab") as handle:
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "postgate", *args], stdout=handle,
                                                stderr=subprocess.STDOUT, env=self.env(), cwd=self.folder,
                                                start_new_session=True)
        if ready is not None:
            self.wait(lambda: ready in self.log(name) or self.procs[name].poll() is not None, f"{name} to start")
            assert self.procs[name].poll() is None, self.log(name)

    def start_api(self) -> None:
        migrated = subprocess.run([sys.executable, "-m", "postgate", "migrate"], env=self.env(), cwd=self.folder,
                                  capture_output=True, text=True, timeout=180)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        self.spawn("api", "serve", "--workers", "0")
        api = self.procs["api"]
        self.wait(lambda: self._answers(f"{self.url}/healthcheck") or api.poll() is not None, "the API to answer")
        assert api.poll() is None, self.log("api")

    def start_worker(self, name: str) -> None:
        self.spawn(name, "worker", "--workers", "1", ready="worker running")

    def stop(self, name: str) -> int:
        """SIGTERM, as systemd or ``docker stop`` would; the exit code."""
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        return proc.wait(60)

    def close(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(30)

    def post(self, data: dict[str, object]) -> httpx.Response:
        return httpx.post(f"{self.url}/v3/mg.example.com/messages", data=data, auth=("api", API_KEY), timeout=60)

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait(self, check, what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                logs = "\n".join(f"==== {n} ====\n{self.log(n)[-2500:]}" for n in ("api", "worker-a", "worker-b"))
                raise AssertionError(f"timed out waiting for {what}\n{logs}")
            time.sleep(0.1)
