"""End to end: a Ghost newsletter batch POSTed over HTTP to a live gateway whose delivery is
``smtp`` reaches an aiosmtpd relay (STARTTLS, AUTH) once per recipient, with that recipient's headers."""

from __future__ import annotations

import json
import pathlib
import sys
import time
import urllib.request

from bench.ghost_form import ghost_batch, recipient_message_id

from postgate.testing.fixtures import TEST_DOMAIN, basic_auth

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from smtp_relay_helpers import FAST, PASSWORD_ENV, relay_settings  # noqa: E402
from relay_sink import PASSWORD, Relay, make_certificates  # noqa: E402

EMAIL_ID = "6740a1b2c3d4e5f6a7b8c9d0"


def post(url: str, body: bytes, content_type: str) -> dict:
    request = urllib.request.Request(f"{url}/v3/{TEST_DOMAIN}/messages", data=body, method="POST",
                                     headers={**basic_auth(), "Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_ghost_batch_reaches_the_relay_once_per_recipient(live_server, tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    certificates = make_certificates(tmp_path / "tls")
    addresses = [f"member{i}@example.com" for i in range(40)]
    with Relay(certificates, tls="starttls") as relay:
        server = live_server(load_entrypoints=True, load_plugins=["smtp"], backends={"delivery": "smtp"},
                             plugin_settings={"smtp": relay_settings(relay, certificates, relay_connections=4)},
                             gateway=FAST)
        body, content_type = ghost_batch(TEST_DOMAIN, addresses, email_id=EMAIL_ID)
        answer = post(server.url, body, content_type)
        assert answer["message"] == "Queued. Thank you."
        deadline = time.monotonic() + 30
        while len(relay.received) < len(addresses):
            assert time.monotonic() < deadline, f"{len(relay.received)} of {len(addresses)} arrived"
            time.sleep(0.05)
        time.sleep(0.3)  # nothing more may come
        received = relay.received
        assert sorted(r.rcpt_to[0] for r in received) == sorted(addresses)  # each once, alone in its envelope
        for copy in received:
            address = copy.rcpt_to[0]
            index = addresses.index(address)
            mail = copy.message
            assert copy.tls and copy.authenticated
            assert copy.mail_from == f"noreply@{TEST_DOMAIN}"
            assert mail["From"] == f"My Blog <noreply@{TEST_DOMAIN}>"
            assert mail["To"] == address
            assert mail["Subject"] == f"Weekly issue for Member {index}"
            assert mail["Message-Id"] == f"<{recipient_message_id(EMAIL_ID, address, TEST_DOMAIN)}>"
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert mail["List-Unsubscribe"].startswith("<https://blog.example.com/unsubscribe/?uuid=")
            assert mail["Auto-Submitted"] == "auto-generated"
            assert f"Hi Member&nbsp;{index}," in mail.get_body(("html",)).get_content()

        events = _events(server.url, "delivered")
        assert sorted(e["recipient"] for e in events) == sorted(addresses)
        assert all(e["delivery-status"]["message"].startswith("250 2.0.0 Ok: queued as") for e in events)
        assert all(e["user-variables"]["email-id"] == EMAIL_ID for e in events)


def _events(url: str, kind: str) -> list[dict]:
    deadline = time.monotonic() + 30
    while True:
        request = urllib.request.Request(f"{url}/v3/{TEST_DOMAIN}/events?event={kind}&limit=300",
                                         headers=basic_auth())
        with urllib.request.urlopen(request, timeout=30) as response:
            items = json.loads(response.read())["items"]
        if len(items) >= 40 or time.monotonic() > deadline:
            return items
        time.sleep(0.1)
