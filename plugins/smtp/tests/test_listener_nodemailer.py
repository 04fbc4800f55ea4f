"""Ghost's transactional mail through the SMTP listener: nodemailer (Ghost's mailer) configured as
Ghost configures it from ``mail__options__*``, over STARTTLS and over implicit TLS."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from listener_helpers import LOGIN, smtp_gateway, self_signed

from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY

DRIVER = Path(__file__).resolve().parents[3] / "tests" / "node" / "ghost_smtp.js"


def nodemailer(options: dict[str, Any], messages: list[dict[str, Any]], ca: Path | None = None) -> list[dict]:
    node = shutil.which("node") or "/usr/bin/node"
    payload = {"options": options, "messages": messages, **({"ca": str(ca)} if ca else {})}
    proc = subprocess.run([node, str(DRIVER)], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)["results"]


SIGNIN = {
    "from": f"\"Ghost\" <noreply@{TEST_DOMAIN}>",
    "to": "member@example.com",
    "subject": "🔑 Secure sign in link for Ghost",
    "html": "<p>Welcome back! Use the link below to sign in.</p>",
    "text": "Welcome back! Use the link below to sign in.",
    "headers": {"X-Mailgun-Tag": "signin"},
}


def test_ghost_over_starttls(live_server, tmp_path):
    cert = self_signed(tmp_path / "tls")
    gw = smtp_gateway(live_server, host="0.0.0.0", listen_tls_cert=str(cert.cert), listen_tls_key=str(cert.key))
    options = {"host": "localhost", "port": gw.smtp_port, "secure": False, "requireTLS": True,
               "auth": {"user": LOGIN, "pass": TEST_KEY}}
    [sent, wrong_key] = [
        *nodemailer(options, [SIGNIN], ca=cert.cert),
        *nodemailer({**options, "auth": {"user": LOGIN, "pass": "key-wrong"}}, [SIGNIN], ca=cert.cert),
    ]
    assert sent["ok"], sent
    assert sent["response"].startswith("250 2.0.0 Ok: queued as <")
    assert sent["accepted"] == ["member@example.com"]
    assert not wrong_key["ok"] and wrong_key["code"] == "EAUTH" and wrong_key["responseCode"] == 535
    [eml] = gw.wait_for_outbox(1)
    received = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert received["Subject"] == SIGNIN["subject"]
    assert received["X-Mailgun-Tag"] is None
    assert received["Message-ID"] == sent["messageId"]
    [delivered] = gw.wait_for_event("delivered")
    assert delivered["recipient"] == "member@example.com"
    assert delivered["tags"] == ["signin"]
    assert f"<{delivered['message']['headers']['message-id']}>" == sent["messageId"]


def test_ghost_over_implicit_tls_on_a_loopback_listener(live_server, tmp_path):
    cert = self_signed(tmp_path / "tls")
    gw = smtp_gateway(live_server, listen_tls_cert=str(cert.cert), listen_tls_key=str(cert.key),
                      listen_implicit_tls=True)
    options = {"host": "127.0.0.1", "port": gw.smtp_port, "secure": True, "auth": {"user": LOGIN, "pass": TEST_KEY},
               "tls": {"servername": "localhost"}}
    [sent, untrusted] = [
        *nodemailer(options, [{**SIGNIN, "to": ["a@example.com", "b@example.com"]}], ca=cert.cert),
        *nodemailer(options, [SIGNIN]),  # verification stays on: an unknown certificate is refused
    ]
    assert sent["ok"], sent
    assert sorted(sent["accepted"]) == ["a@example.com", "b@example.com"]
    assert not untrusted["ok"] and "certificate" in untrusted["message"]
    assert len(gw.wait_for_outbox(2)) == 2
    assert {e["recipient"] for e in gw.wait_for_event("accepted")} == {"a@example.com", "b@example.com"}


def test_a_sender_outside_the_domain_is_refused(live_server):
    gw = smtp_gateway(live_server, background=False)
    options = {"host": "127.0.0.1", "port": gw.smtp_port, "secure": False, "ignoreTLS": True,
               "auth": {"user": LOGIN, "pass": TEST_KEY}}
    [refused] = nodemailer(options, [{**SIGNIN, "from": "someone@gmail.com"}])
    assert not refused["ok"] and refused["responseCode"] == 550
    assert f"at {TEST_DOMAIN}" in refused["response"]
