"""``python -m bench.smtp_ingress``: one transactional message accepted over SMTP versus the same
message over ``POST /v3/<domain>/messages.mime``, on one gateway, in one run.

The gateway is a :class:`~postgate.testing.fixtures.LiveServer` with the smtp plugin's listener on
a loopback port and no workers, so both figures measure the ingress only (parse, validate, store
the batch and its ledger row, queue the job). The SMTP client is :mod:`smtplib` on one
authenticated connection (MAIL, RCPT, DATA per message, as nodemailer's pooled transport does);
the HTTP client is one keep-alive connection. The rounds alternate (SMTP, HTTP, SMTP, …) so that
drift on a shared machine hits both; the best round of each is reported, and the ratio
SMTP/HTTP of messages per second. Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import http.client
import smtplib
import statistics
import sys
import tempfile
import time
import uuid
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import postgate_smtp.plugin as smtp_plugin
from postgate.app import Gateway
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, LiveServer, basic_auth, free_port, make_settings


def signin_message(index: int) -> bytes:
    """A Ghost sign-in email of about 2 KiB (text and HTML)."""
    message = EmailMessage()
    message["From"] = f'"Ghost" <noreply@{TEST_DOMAIN}>'
    message["To"] = f"member{index}@example.com"
    message["Subject"] = "Secure sign in link for Ghost"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{TEST_DOMAIN}>"
    message["X-Mailgun-Tag"] = "signin"
    link = f"https://blog.example.com/members/?token={uuid.uuid4().hex}&action=signin"
    message.set_content(f"Welcome back! Use this link to sign in:\n\n{link}\n\n" + "Ghost\n" * 20)
    message.add_alternative(f"<p>Welcome back!</p><p><a href='{link}'>Sign in</a></p>" + "<p>Ghost</p>" * 40,
                            subtype="html")
    return message.as_bytes(policy=SMTP)


def multipart(to: str, raw: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\n{to}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"message\"; filename=\"message.mime\"\r\n"
            "Content-Type: message/rfc822\r\n\r\n").encode() + raw + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def smtp_round(port: int, messages: list[bytes]) -> list[float]:
    samples = []
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.login(f"postmaster@{TEST_DOMAIN}", TEST_KEY)
        for index, raw in enumerate(messages):
            started = time.perf_counter()
            refused = client.sendmail(f"noreply@{TEST_DOMAIN}", [f"member{index}@example.com"], raw)
            samples.append(time.perf_counter() - started)
            if refused:
                raise RuntimeError(f"SMTP refused {refused}")
    return samples


def http_round(server: LiveServer, messages: list[bytes]) -> list[float]:
    samples = []
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        for index, raw in enumerate(messages):
            body, content_type = multipart(f"member{index}@example.com", raw)
            started = time.perf_counter()
            connection.request("POST", f"/v3/{TEST_DOMAIN}/messages.mime", body=body,
                               headers={**basic_auth(TEST_KEY), "Content-Type": content_type})
            response = connection.getresponse()
            data = response.read()
            samples.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"messages.mime answered {response.status}: {data[:300]!r}")
    finally:
        connection.close()
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"per_second": len(samples) / sum(samples), "p50_ms": statistics.median(samples) * 1000,
            "p99_ms": ordered[max(0, round(0.99 * len(ordered)) - 1)] * 1000}


def run(messages: int, rounds: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="pgbench-smtp-") as folder:
        port = free_port()
        settings = make_settings(Path(folder), plugins={"smtp": {"listen": f"127.0.0.1:{port}"}})
        server = LiveServer(Gateway(settings, plugins=[smtp_plugin], load_entrypoints=False), background=False)
        server.start()
        try:
            smtp_round(port, [signin_message(i) for i in range(5)])  # warm-up, both doors
            http_round(server, [signin_message(i) for i in range(5)])
            best: dict[str, dict[str, float]] = {}
            for _ in range(rounds):
                for door, measure in (("smtp", lambda m: smtp_round(port, m)),
                                      ("http", lambda m: http_round(server, m))):
                    figures = summary(measure([signin_message(i) for i in range(messages)]))
                    if door not in best or figures["per_second"] > best[door]["per_second"]:
                        best[door] = figures
        finally:
            server.stop()
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.smtp_ingress", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200, help="messages per round and door")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each door counts")
    args = parser.parse_args(argv)
    best = run(args.messages, args.rounds)
    for door, label in (("smtp", "SMTP listener"), ("http", "messages.mime")):
        figures = best[door]
        print(f"{label:14} {figures['per_second']:7.1f} messages/s  p50 {figures['p50_ms']:6.2f} ms  "
              f"p99 {figures['p99_ms']:6.2f} ms")
    print(f"ratio SMTP / HTTP: {best['smtp']['per_second'] / best['http']['per_second']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
