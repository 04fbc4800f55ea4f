"""Pytest fixtures for testing Postgate and its plugins against real components.

Opt in from a ``conftest.py`` with ``pytest_plugins = ["postgate.testing.fixtures"]``.

- ``make_settings(tmp_path, **overrides)``: settings for an isolated gateway (own data folder,
  domain ``mg.example.com``, key ``key-test``, no background workers unless asked).
- ``gateway_factory``: build gateways with explicit plugins; started ones are stopped at teardown.
- ``live_server``: start a gateway under a real Hypercorn on a loopback port in a thread, for
  clients that speak HTTP (mailgun.js, the Python SDK).
"""

from __future__ import annotations

import asyncio
import base64
import random
import socket
import threading
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from ..app import Gateway
from ..settings import Settings

T = TypeVar("T")

TEST_DOMAIN = "mg.example.com"
TEST_KEY = "key-test"


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test gateway; ``overrides`` are top-level settings (nested dicts merge).

    The ``[plugins.X]`` tables are passed as ``plugin_settings={"X": {...}}`` (``plugins=`` is
    taken by the plugin objects in the factories below).
    """
    if "plugin_settings" in overrides:
        overrides["plugins"] = overrides.pop("plugin_settings")
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "domain": TEST_DOMAIN,
        "api_key": TEST_KEY,
        "gateway": {"workers": 0, "retry_delays": [0.2, 0.4, 0.8]},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return Settings(**base)


def basic_auth(key: str = TEST_KEY) -> dict[str, str]:
    token = base64.b64encode(f"api:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest_asyncio.fixture
async def gateway_factory(tmp_path: Path):
    """``make(plugins=(), **settings) -> Gateway`` (not started); stopped at teardown."""
    made: list[Gateway] = []

    def make(plugins: Iterable[object] = (), load_entrypoints: bool = False, **overrides: Any) -> Gateway:
        settings = make_settings(tmp_path / f"gw{len(made)}", **overrides)
        gateway = Gateway(settings, plugins=plugins, load_entrypoints=load_entrypoints)
        made.append(gateway)
        return gateway

    yield make
    for gateway in reversed(made):
        await gateway.stop()


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range of source ports for outgoing connections (Linux's default elsewhere)."""
    try:
        low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def free_port() -> int:
    """A loopback port nothing listens on, for a server the test starts next.

    Taken below the ephemeral range where there is room: between this check and the server's
    bind, any outgoing connection of the test (to the database, moto, the server itself) may get
    an ephemeral port as its source port, and a connection to a port of that range that is not
    listening yet may even connect to itself (a TCP self-connect). Drawn at random, so that test
    runs side by side rarely draw the same port."""
    low, _ = _ephemeral_ports()
    draw = random.SystemRandom()
    if low > 12_000:
        for _ in range(100):
            port = draw.randrange(10_000, low)
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A gateway served by Hypercorn on ``127.0.0.1:<port>`` from a thread with its own loop."""

    def __init__(self, gateway: Gateway, *, background: bool = True) -> None:
        self.gateway = gateway
        self.background = background
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="postgate-live-server", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._shutdown: asyncio.Event | None = None

    def _serve(self) -> None:
        from ..server import serve_app
        from ..web import create_app

        asyncio.set_event_loop(self.loop)
        app = create_app(self.gateway, background=self.background)

        async def main() -> None:
            self._shutdown = asyncio.Event()

            async def mark_ready() -> None:
                while not self.gateway.started:
                    await asyncio.sleep(0.01)
                while True:  # Hypercorn binds its socket after the app's startup has run
                    try:
                        _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    except OSError:
                        await asyncio.sleep(0.01)
                        continue
                    writer.close()
                    break
                self._ready.set()

            watcher = asyncio.create_task(mark_ready())
            try:
                await serve_app(app, "127.0.0.1", self.port, self._shutdown.wait)
            finally:
                watcher.cancel()

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
        finally:
            self.loop.close()

    def start(self, timeout: float = 30.0) -> LiveServer:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the live server did not start")
        if self._error is not None:
            raise RuntimeError("the live server failed to start") from self._error
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run a coroutine on the server's loop (to read storage, say) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self._shutdown is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._shutdown.set)
        self._thread.join(30)


@pytest.fixture
def live_server(tmp_path: Path):
    """``start(plugins=(), background=True, **settings) -> LiveServer``; stopped at teardown."""
    servers: list[LiveServer] = []

    def start(plugins: Iterable[object] = (), background: bool = True, load_entrypoints: bool = False,
              **overrides: Any) -> LiveServer:
        overrides.setdefault("gateway", {})
        if background:
            overrides["gateway"] = {"workers": 1, **overrides["gateway"]}
        settings = make_settings(tmp_path / f"live{len(servers)}", **overrides)
        gateway = Gateway(settings, plugins=plugins, load_entrypoints=load_entrypoints)
        server = LiveServer(gateway, background=background)
        servers.append(server)
        return server.start()

    yield start
    for server in reversed(servers):
        server.stop()


Factory = Callable[..., Gateway]
