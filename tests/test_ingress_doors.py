"""Entry doors that listen on their own (``register_ingress`` returning an object with async
``start()``/``stop()``): started once the gateway has started, stopped before it stops, in the
serving process only."""

import asyncio
import socket

import pytest

from postgate import Gateway, Message, hookimpl
from postgate.settings import ConfigError
from postgate.testing.fixtures import free_port, make_settings
from postgate.web import create_app


class LineDoor:
    """A tiny TCP door: each line ``to@example.com`` becomes a message; it answers the queued id."""

    def __init__(self, gateway, journal):
        self.gateway = gateway
        self.journal = journal
        self.port = free_port()
        self.server = None

    async def start(self):
        self.journal.append(("start", self.gateway.started))
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", self.port)

    async def stop(self):
        self.journal.append(("stop", self.gateway.started))
        self.server.close()
        await self.server.wait_closed()

    async def serve(self, reader, writer):
        line = (await reader.readline()).decode().strip()
        message = Message(domain="mg.example.com", sender="app@mg.example.com", to=[line], text="hi")
        writer.write((await self.gateway.accept(message)).encode() + b"\n")
        await writer.drain()
        writer.close()


class DoorPlugin:
    def __init__(self):
        self.journal = []
        self.doors = []

    @hookimpl
    def register_ingress(self, register):
        def factory(gateway):
            door = LineDoor(gateway, self.journal)
            self.doors.append(door)
            return door

        register("lines", factory)


def send_line(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(line.encode() + b"\n")
        return sock.makefile().readline().strip()


def test_a_server_door_starts_with_the_gateway_and_stops_before_it(live_server):
    plugin = DoorPlugin()
    server = live_server(plugins=[plugin], background=False)
    [door] = plugin.doors
    assert plugin.journal == [("start", True)]
    queued = send_line(door.port, "reader@example.com")
    assert queued.startswith("<") and queued.endswith("@mg.example.com>")
    server.stop()
    assert plugin.journal == [("start", True), ("stop", True)]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", door.port), timeout=2)


def test_an_object_without_async_start_and_stop_is_refused(tmp_path):
    class Half:
        def start(self):
            pass

    class HalfPlugin:
        @hookimpl
        def register_ingress(self, register):
            register("half", lambda gateway: Half())

    gateway = Gateway(make_settings(tmp_path), plugins=[HalfPlugin()], load_entrypoints=False)
    with pytest.raises(ConfigError, match="ingress 'half' returned Half"):
        create_app(gateway)


class FailingDoor:
    def __init__(self, journal):
        self.journal = journal

    async def start(self):
        raise OSError("port taken")

    async def stop(self):
        self.journal.append("stopped-failing")


async def test_a_door_that_fails_to_start_stops_the_others_and_the_gateway(tmp_path):
    plugin = DoorPlugin()

    class Failing:
        @hookimpl
        def register_ingress(self, register):
            register("zz-failing", lambda gateway: FailingDoor(plugin.journal))

    gateway = Gateway(make_settings(tmp_path), plugins=[plugin, Failing()], load_entrypoints=False)
    app = create_app(gateway, background=False)
    with pytest.raises(OSError, match="port taken"):
        await app.startup()
    assert plugin.journal == [("start", True), ("stop", True)]  # the started one, not the failed one
    assert not gateway.started
