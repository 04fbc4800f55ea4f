"""Helpers of the deployment tests: the repository's paths, the Dockerfile read as instructions,
and a ``postgate`` process started from a given environment."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
INSTALL_SCRIPT = ROOT / "deploy" / "docker" / "install.sh"
PINNED = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)\s*(?:;(.*))?$")


def uv_command() -> str:
    """The uv the Makefile installs (``.tools/bin/uv``), else one on ``PATH``."""
    local = ROOT / ".tools" / "bin" / "uv"
    if local.is_file():
        return str(local)
    found = shutil.which("uv")
    assert found, "uv is needed: `make sync` installs it into .tools/"
    return found


def base_python() -> str:
    """The interpreter this test environment was made from (a fresh venv is made from it too)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, list[tuple[str, str | None]]]:
    """``constraint-dependencies`` of the root pyproject: name -> [(version, marker)]."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    out: dict[str, list[tuple[str, str | None]]] = {}
    for line in data["tool"]["uv"]["constraint-dependencies"]:
        match = PINNED.match(line)
        assert match, f"not a name==version pin: {line!r}"
        name, version, marker = match.groups()
        out.setdefault(normalize(name), []).append((version, marker.strip() if marker else None))
    return out


def plugin_folders() -> list[str]:
    """Every ``plugins/<name>`` that is a distribution (what PLUGINS=all installs)."""
    return sorted(path.parent.name for path in (ROOT / "plugins").glob("*/pyproject.toml"))


def plugin_entry_points() -> list[str]:
    """The names ``load_plugins`` takes for those distributions (their ``postgate`` entry points,
    which need not match the folder: ``plugins/mailgun`` loads as ``mailgun_relay``)."""
    names = []
    for path in (ROOT / "plugins").glob("*/pyproject.toml"):
        names.extend(tomllib.loads(path.read_text())["project"].get("entry-points", {}).get("postgate", {}))
    return sorted(names)


def distribution_name(folder: Path) -> str:
    return normalize(tomllib.loads((folder / "pyproject.toml").read_text())["project"]["name"])


@dataclass
class Instruction:
    stage: int
    keyword: str
    arguments: str


def dockerfile_instructions(text: str | None = None) -> list[Instruction]:
    """The Dockerfile's instructions with continuation lines joined and comments dropped; ``stage``
    counts the ``FROM`` lines (0 before the first)."""
    text = DOCKERFILE.read_text() if text is None else text
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    out, stage = [], 0
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(stage, keyword, arguments.strip()))
    return out


class Server:
    """``postgate serve`` from a given ``bin`` folder, on its own session, output to a log file."""

    def __init__(self, bin_dir: Path, folder: Path, env: dict[str, str], args: list[str]) -> None:
        self.log = folder / "serve.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGATE_", "VIRTUAL_ENV"))}
        clean["PATH"] = f"{bin_dir}{os.pathsep}{clean.get('PATH', '')}"
        with self.log.open("ab") as handle:
            self.popen = subprocess.Popen([str(bin_dir / "postgate"), *args], stdout=handle,
                                          stderr=subprocess.STDOUT, cwd=folder, start_new_session=True,
                                          env={**clean, "PYTHONUNBUFFERED": "1", **env})

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_ready(self, url: str, timeout: float = 120) -> httpx.Response:
        """Poll ``url`` until it answers 200 (or the process dies, or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        last: httpx.Response | None = None
        while time.monotonic() < deadline and self.alive():
            try:
                last = httpx.get(url, timeout=5)
                if last.status_code == 200:
                    return last
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{url} never answered 200 (last: {last and last.status_code}); "
                             f"log:\n{self.output()[-3000:]}")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code (SIGKILL and fail if it does not exit within ``timeout``)."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(30)
            raise AssertionError(f"no exit within {timeout:g} s of SIGTERM; log:\n{self.output()[-3000:]}")
