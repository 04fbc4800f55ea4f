"""Hostile input at the SMTP listener: every reply is a 2xx, 4xx or 5xx status, never a crash, and
the server keeps answering. Messages (CR/LF smuggled into headers, NUL, 8-bit garbage, huge
headers) go through smtplib; raw command lines go through a socket."""

from __future__ import annotations

import re
import smtplib
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from listener_helpers import LOGIN, smtp_gateway

from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY

NASTY = ["\r", "\n", "\r\n", "\x00", "\x85", "\u2028", "\x1b", "\x7f", "=?utf-8?q?=0D=0A?=", ":", " ", "\t"]
HEADER_NAMES = ["Subject", "From", "To", "Message-ID", "Bcc", "Content-Type", "X-Mailgun-Tag",
                "X-Mailgun-Variables", "X-Mailgun-Deliver-By", "X-Mailgun-Track-Clicks",
                "X-Mailgun-Drop-Message", "X-Mailgun-Recipient-Variables"]

text_values = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=30)), max_size=8).map("".join)
values = st.one_of(text_values.map(lambda v: v.encode("utf-8", "surrogatepass")),
                   st.binary(max_size=60),
                   st.integers(1, 6).map(lambda n: b"x" * (400 * n)),  # long lines, folded or not
                   st.sampled_from([b'{"a": ' * 50 + b"1" + b"}" * 50, b"[]", b"{}", b"9" * 400,
                                    b"Thu, 01 Jan 9999 00:00:00 +0000", b"yes", b"htmlonly"]))
names = st.one_of(st.sampled_from(HEADER_NAMES), st.binary(min_size=1, max_size=20))
headers = st.lists(st.tuples(names, values), max_size=8)
bodies = st.one_of(st.binary(max_size=300), st.sampled_from([b"", b".\r\n", b"..\r\n.\r\nQUIT\r\n", b"\x00" * 10]))

STATUS = re.compile(rb"^[245]\d\d[ -]")
#: Any reply line, a challenge (334) or "go ahead" (354) included.
REPLY = re.compile(rb"^[2-5]\d\d[ -]")


class Client:
    """An authenticated smtplib session, opened again whenever the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.smtp: smtplib.SMTP | None = None

    def session(self) -> smtplib.SMTP:
        if self.smtp is None:
            self.smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=20)
            self.smtp.login(LOGIN, TEST_KEY)
        return self.smtp

    def send(self, raw: bytes) -> int:
        try:
            smtp = self.session()
            smtp.rset()
            smtp.mail(f"app@{TEST_DOMAIN}")
            smtp.rcpt("reader@example.com")
            code, _ = smtp.data(raw)
        except smtplib.SMTPServerDisconnected:
            self.smtp = None
            return 421
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
        return code

    def alive(self) -> bool:
        return self.session().noop()[0] == 250


def test_hostile_messages_get_a_status_and_the_server_stays_up(live_server):
    gw = smtp_gateway(live_server, background=False, listen_max_message_mb=0.5)
    client = Client(gw.smtp_port)
    seen: set[int] = set()

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(headers=headers, body=bodies)
    def check(headers, body):
        raw = b"".join(name + b": " + value + b"\r\n" for name, value in
                       ((n.encode() if isinstance(n, str) else n, v) for n, v in headers)) + b"\r\n" + body
        code = client.send(raw)
        seen.add(code)
        assert code // 100 in (2, 4, 5), code
        assert client.alive()

    check()
    assert any(code // 100 == 5 for code in seen)  # hostile input was met, and refused


def exchange(sock: socket.socket, line: bytes) -> list[bytes]:
    """Send one command line; the reply's lines (empty when the server closed the connection)."""
    data = b""
    try:
        sock.sendall(line + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):  # it closed after its last reply (221, 421)
        return []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return []
        if not chunk:
            return []
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and all(REPLY.match(x) for x in lines[:-1]) and re.match(rb"^\d\d\d ", lines[-2]):
            return lines[:-1]


commands = st.one_of(
    st.tuples(st.sampled_from([b"EHLO", b"HELO", b"MAIL FROM:", b"RCPT TO:", b"AUTH", b"AUTH PLAIN", b"AUTH LOGIN",
                               b"DATA", b"RSET", b"VRFY", b"STARTTLS", b"NOOP", b"HELP", b"BDAT", b"XCLIENT"]),
              st.binary(max_size=80)).map(lambda t: t[0] + b" " + t[1]),
    st.binary(min_size=1, max_size=120),
    st.integers(1, 3).map(lambda n: b"MAIL FROM:<" + b"a" * (600 * n) + b"@mg.example.com>"),
)


def test_hostile_command_lines_get_a_status(live_server):
    gw = smtp_gateway(live_server, background=False)
    state = {"sock": None}

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", gw.smtp_port), timeout=10)
        sock.recv(1024)  # the greeting
        exchange(sock, b"EHLO fuzz.example")
        return sock

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(line=commands)
    def check(line):
        line = line.replace(b"\r", b"").replace(b"\n", b"")
        if state["sock"] is None:
            state["sock"] = connect()
        reply = exchange(state["sock"], line)
        if not reply:  # closed (QUIT, too many bad commands): a new connection must work
            state["sock"].close()
            state["sock"] = connect()
            return
        assert all(STATUS.match(x) for x in reply) or reply[-1].startswith((b"334 ", b"354 ")), reply
        if reply[-1].startswith(b"354 "):  # never without AUTH; end the data if it ever is
            reply = exchange(state["sock"], b".")
        if reply[-1].startswith(b"334 "):  # an AUTH challenge: answer it with garbage
            reply = exchange(state["sock"], b"not base64!")
            assert reply == [] or all(STATUS.match(x) for x in reply), reply
            if not reply:
                state["sock"].close()
                state["sock"] = connect()

    check()
    if state["sock"] is not None:  # the last line may have been the one that made the server close (221, 502 goodbye)
        state["sock"].close()
    sock = connect()  # whatever came before, the listener still answers a new client
    assert exchange(sock, b"NOOP")[0].startswith(b"250")
    sock.close()
    assert gw.events() == []
