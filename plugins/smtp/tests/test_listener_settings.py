"""The listener's settings (refused when no client could ever authenticate safely), its
certificate errors, its session limit, and a stop that lets a message being accepted finish."""

from __future__ import annotations

import asyncio
import smtplib
import time

import pytest
from listener_helpers import LOGIN, self_signed
from pydantic import ValidationError

import postgate_smtp.plugin as smtp_plugin
from postgate import ConfigError, hookimpl
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, free_port
from postgate_smtp.ingress_settings import IngressSettings
from postgate_smtp.listener import SmtpListener


def test_off_by_default():
    assert IngressSettings().listen_address is None


@pytest.mark.parametrize("listen, address, loopback", [
    ("127.0.0.1:2525", ("127.0.0.1", 2525), True),
    ("[::1]:587", ("::1", 587), True),
    ("localhost:25", ("localhost", 25), True),
])
def test_loopback_listeners_need_no_certificate(listen, address, loopback):
    settings = IngressSettings(listen=listen)
    assert settings.listen_address == address
    assert settings.auth_needs_tls is not loopback


@pytest.mark.parametrize("values, error", [
    ({"listen": "0.0.0.0:587"}, "AUTH needs TLS"),
    ({"listen": "127.0.0.1"}, "host:port"),
    ({"listen": "127.0.0.1:0"}, "host:port"),
    ({"listen": "127.0.0.1:70000"}, "host:port"),
    ({"listen": "::1:25"}, "in brackets"),
    ({"listen": "127.0.0.1:25", "listen_tls_cert": "/c.pem"}, "both"),
    ({"listen": "127.0.0.1:25", "listen_implicit_tls": True}, "listen_implicit_tls needs"),
    ({"listen": "127.0.0.1:25", "listen_hostname": "bad host\r\nname"}, "listen_hostname"),
    ({"listen": "127.0.0.1:25", "listen_max_message_mb": 0}, "listen_max_message_mb"),
    ({"listen": "127.0.0.1:25", "listen_tsl_cert": "/c.pem"}, "listen_tsl_cert"),
])
def test_bad_settings_are_refused(values, error):
    with pytest.raises(ValidationError, match=error):
        IngressSettings(**values)


def test_a_private_network_listener_without_tls_is_an_explicit_choice():
    settings = IngressSettings(listen="0.0.0.0:587", listen_require_tls=False)
    assert settings.auth_needs_tls is False


async def test_an_unreadable_certificate_is_a_config_error(gateway_factory, tmp_path):
    gateway = gateway_factory(plugins=[smtp_plugin], plugin_settings={"smtp": {
        "listen": f"127.0.0.1:{free_port()}", "listen_tls_cert": str(tmp_path / "missing.pem"),
        "listen_tls_key": str(tmp_path / "missing.key")}})
    listener = SmtpListener(gateway, gateway.plugin_settings("smtp"))
    with pytest.raises(ConfigError, match="cannot load listen_tls_cert .*missing.pem"):
        await listener.start()


async def test_sessions_beyond_the_limit_are_told_to_come_back(gateway_factory):
    port = free_port()
    gateway = gateway_factory(plugins=[smtp_plugin], plugin_settings={"smtp": {
        "listen": f"127.0.0.1:{port}", "listen_max_sessions": 2}})
    await gateway.start()
    listener = SmtpListener(gateway, gateway.plugin_settings("smtp"))
    await listener.start()
    try:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        for reader, _ in held:
            assert (await reader.readline()).startswith(b"220 ")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await reader.readline()).startswith(b"421 4.7.0")
        assert await reader.read() == b""  # closed
        writer.close()
        for _, held_writer in held:
            held_writer.close()
        deadline = time.monotonic() + 30
        while listener.sessions:  # the listener sees the hang-ups a moment later
            assert time.monotonic() < deadline, f"{len(listener.sessions)} sessions still open"
            await asyncio.sleep(0.02)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await reader.readline()).startswith(b"220 ")
        writer.close()
    finally:
        await listener.stop()


class SlowAccept:
    """Holds each message in validation until the test has asked the listener to stop."""

    def __init__(self):
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    @hookimpl
    async def validate_message(self, gateway, message):
        self.entered.set()
        await self.release.wait()


async def no_longer_listening(port: int, timeout: float = 30.0) -> None:
    """Wait until connections to ``port`` are refused (stop closes the socket a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        except ConnectionRefusedError:
            return
        writer.close()
        assert time.monotonic() < deadline, "the listener still accepts connections"
        await asyncio.sleep(0.05)


async def test_stop_lets_a_message_being_accepted_finish(gateway_factory):
    port = free_port()
    slow = SlowAccept()
    gateway = gateway_factory(plugins=[smtp_plugin, slow], plugin_settings={"smtp": {"listen": f"127.0.0.1:{port}"}})
    await gateway.start()
    listener = SmtpListener(gateway, gateway.plugin_settings("smtp"))
    await listener.start()

    def send() -> dict:
        with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
            client.login(LOGIN, TEST_KEY)
            return client.sendmail(f"app@{TEST_DOMAIN}", ["reader@example.com"], b"Subject: s\r\n\r\nbody\r\n")

    sending = asyncio.create_task(asyncio.to_thread(send))
    await asyncio.wait_for(slow.entered.wait(), 20)
    stopping = asyncio.create_task(listener.stop())
    await no_longer_listening(port)  # while the message finishes
    assert not stopping.done()
    slow.release.set()
    await asyncio.wait_for(stopping, 20)
    assert await asyncio.wait_for(sending, 20) == {}
