"""The ``smtp_dsn`` event source against a real IMAP server: pymap (pure-Python, in-memory
mailboxes) in a child process, reached over implicit TLS through a TLS front (as stunnel would
stand in front of it: pymap speaks only STARTTLS, aioimaplib only implicit TLS), the certificate
verified against the test CA. The bounced messages were delivered through an aiosmtpd relay first,
so the DSNs point at real ledger rows (VERP for three, the Message-ID alone for Gmail's)."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import pathlib
import socket
import subprocess
import sys
import time

import pytest

from postgate import RecipientStatus
from postgate.testing.fixtures import free_port

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from smtp_relay_helpers import DOMAIN, PASSWORD_ENV, batch, drain, events_of, smtp_gateway  # noqa: E402
from relay_sink import PASSWORD, Relay, make_certificates  # noqa: E402

SAMPLES = pathlib.Path(__file__).parent / "dsn_samples"
IMAP_USER, IMAP_PASSWORD, IMAP_PASSWORD_ENV = "bounces@bounce.mg.example.com", "imap-secret", "POSTGATE_TEST_IMAP_PASSWORD"
ADDRESSES = ["nobody@example.org", "slow@example.net", "gone@corp.example.com", "no.such.person.2026@gmail.com"]


@contextlib.contextmanager
def pymap_server():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from pymap.main import main; main()", "--host", "127.0.0.1", "--port", str(port),
                             "--no-service", "admin", "dict", "--demo-user", IMAP_USER,
                             "--demo-password", IMAP_PASSWORD],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "pymap did not start"
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.asynccontextmanager
async def tls_front(context, target_port: int):
    """Implicit TLS on a free port, each connection forwarded in clear to ``target_port``."""

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def serve(client_reader, client_writer):
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def append(port: int, messages: list[bytes]) -> None:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(IMAP_USER, IMAP_PASSWORD)
    for raw in messages:
        assert client.append("INBOX", None, None, raw)[0] == "OK"
    client.logout()


def unseen(port: int) -> int:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(IMAP_USER, IMAP_PASSWORD)
    client.select("INBOX")
    count = len(client.search(None, "UNSEEN")[1][0].split())
    client.logout()
    return count


def dsns(rows: dict) -> list[bytes]:
    """The sample DSNs, pointed at the ledger rows of this run."""
    def read(name: str) -> bytes:
        return (SAMPLES / name).read_bytes().replace(b"\n", b"\r\n")

    postfix = read("postfix_user_unknown.eml").replace(b"pg7-42", f"pg1-{rows[ADDRESSES[0]].id}".encode())
    delayed = read("postfix_delayed.eml").replace(b"pg7-43", f"pg1-{rows[ADDRESSES[1]].id}".encode())
    exchange = read("exchange_not_found.eml").replace(b"pg7-44", f"pg1-{rows[ADDRESSES[2]].id}".encode())
    gmail = read("gmail_no_such_user.eml").replace(b"6740a1b2c3d4e5f6a7b8c9d0.6f3a@mg.example.com",
                                                   rows[ADDRESSES[3]].provider_id.encode())
    forged = read("postfix_user_unknown.eml").replace(b"pg7-42", b"pg99-1")  # no such batch
    return [postfix, delayed, exchange, gmail, forged, read("postfix_success.eml"),
            b"From: someone@example.org\r\nSubject: thanks!\r\n\r\nnot a bounce\r\n"]


@pytest.fixture(autouse=True)
def passwords(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv(IMAP_PASSWORD_ENV, IMAP_PASSWORD)


async def wait_for(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_bounces_from_the_mailbox_become_failed_events_of_their_rows(gateway_factory, tmp_path):
    certificates = make_certificates(tmp_path / "tls")
    with Relay(certificates, tls="starttls") as relay, pymap_server() as imap_port:
        async with tls_front(certificates.server_context(), imap_port) as tls_port:
            gw = smtp_gateway(gateway_factory, relay, certificates, relay_verp_address="bounces@bounce.mg.example.com",
                              dsn_imap_host="localhost", dsn_imap_port=tls_port, dsn_imap_username=IMAP_USER,
                              dsn_imap_password_env=IMAP_PASSWORD_ENV, dsn_imap_ca_file=str(certificates.ca_file),
                              dsn_poll_seconds=0.1, event_sources=["smtp_dsn"])
            await gw.start()
            (source,) = gw.event_sources
            await gw.accept(batch(ADDRESSES))
            await drain(gw)
            rows = {row.address: row for row in await gw.storage.list_recipients(1, 0, 100)}
            assert all(row.status == RecipientStatus.DELIVERED and row.provider_id for row in rows.values())
            await asyncio.to_thread(append, imap_port, dsns(rows))

            gw.start_background(workers=0)  # the gateway runs the smtp_dsn source
            await wait_for(lambda: source.handled >= 7)
            assert await asyncio.to_thread(unseen, imap_port) == 0  # flagged \Seen: never read twice

            failed = {e.recipient: e.payload for e in await events_of(gw, "failed")}
            assert set(failed) == set(ADDRESSES)
            nobody = failed["nobody@example.org"]
            assert (nobody["severity"], nobody["reason"]) == ("permanent", "bounce")
            assert nobody["delivery-status"]["code"] == 550
            assert nobody["delivery-status"]["enhanced-code"] == "5.1.1"
            assert nobody["delivery-status"]["mx-host"] == "mx1.example.org"
            assert nobody["message"]["headers"]["message-id"] == rows["nobody@example.org"].message_id
            slow = failed["slow@example.net"]
            assert (slow["severity"], slow["delivery-status"]["enhanced-code"]) == ("temporary", "4.4.1")
            assert failed["gone@corp.example.com"]["delivery-status"]["enhanced-code"] == "5.1.10"
            gmail = failed["no.such.person.2026@gmail.com"]
            assert (gmail["severity"], gmail["reason"]) == ("permanent", "bounce")

            # The same suppression rules as any hard bounce: the next send to them is dropped.
            for address in ("nobody@example.org", "gone@corp.example.com", "no.such.person.2026@gmail.com"):
                assert await gw.storage.get_suppression(DOMAIN, "bounces", address) is not None
            assert await gw.storage.get_suppression(DOMAIN, "bounces", "slow@example.net") is None

            # Reading the same DSNs again (a mailbox restored from backup) stores nothing twice.
            await asyncio.to_thread(append, imap_port, dsns(rows)[:4])
            await wait_for(lambda: source.handled >= 11)
            assert len(await events_of(gw, "failed")) == 4
