"""End-to-end harness (imported by ``conftest.py`` and the test modules): a live Postgate (Hypercorn on loopback) driven by real Mailgun clients.

The ``e2e`` fixture (``conftest.py``) starts a gateway with background workers on the embedded default (SQLite
storage, local queue, outbox delivery) and returns a :class:`Harness` with:

- ``node(calls)``: run ``tests/node/ghost_mailgun.js`` (mailgun.js 10.4.0 + form-data 4.0.6, used
  exactly as Ghost 6.65's ``mailgun-client.js`` uses them) and return one result per call;
- ``ghost_batch(...)``: the arguments of Ghost's ``MailgunClient.send`` for a newsletter batch;
- ``emls()``: the messages the outbox wrote, parsed;
- ``stored_events()``/``wait_for(...)``/``count_batches()``: what the gateway stored, read on
  the server's own loop through ``gateway.storage``.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import email.utils
import hashlib
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from postgate.domain import EventQuery
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, LiveServer

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "node" / "ghost_mailgun.js"
SIMULATOR = "simulator.amazonses.com"
GHOST_EVENTS = "delivered OR failed OR unsubscribed OR complained"


def node_binary() -> str:
    found = shutil.which("node") or "/usr/bin/node"
    if not Path(found).exists():
        raise RuntimeError("node is needed for the mailgun.js end-to-end tests (Node 20)")
    return found


def recipient_message_id(email_id: str, address: str, domain: str = TEST_DOMAIN) -> str:
    """Ghost 6.65's ``buildRecipientMessageId`` (bare, no angle brackets)."""
    digest = hashlib.sha256(f"{email_id}:{address}".encode()).hexdigest()[:32]
    return f"{email_id}.{digest}@{domain}"


def ghost_email_id() -> str:
    """A Ghost email id (a 24-hex-digit ObjectId)."""
    return secrets.token_hex(12)


#: Ghost turns its {name}-style replacements into %recipient.X% before sending.
GHOST_REPLACEMENTS = [
    {"format": "subject", "id": "name", "pattern": r"\{name\}"},
    {"format": "html", "id": "name_html", "pattern": r"\{name_html\}"},
    {"format": "html", "id": "unsubscribe_url", "pattern": r"\{unsubscribe_url\}"},
    {"format": "plaintext", "id": "name", "pattern": r"\{name\}"},
    {"format": "plaintext", "id": "unsubscribe_url", "pattern": r"\{unsubscribe_url\}"},
]


def ghost_recipient(address: str, index: int) -> dict[str, str]:
    """The recipient variables Ghost's batch sending service builds for one member."""
    return {
        "name": f"Member {index}",
        "name_html": f"Member&nbsp;{index}",
        "unsubscribe_url": f"https://blog.example.com/unsubscribe/?uuid=u{index}&newsletter=n1",
        "list_unsubscribe": f"https://blog.example.com/unsubscribe/?uuid=u{index}&key=k{index}&newsletter=n1",
    }


@dataclass
class Outboxed:
    """One ``.eml`` the outbox wrote."""

    path: Path
    message: EmailMessage

    @property
    def to(self) -> str:
        return email.utils.parseaddr(str(self.message["To"]))[1]

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"]).strip()

    def header(self, name: str) -> str | None:
        value = self.message[name]
        return None if value is None else str(value)

    def body(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return "" if part is None else part.get_content()


class Harness:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.url = server.url
        self.domain = TEST_DOMAIN
        self.key = TEST_KEY
        self.node_path = node_binary()

    # -- clients ------------------------------------------------------------------------------

    def node(self, calls: list[dict[str, Any]], *, key: str | None = None, domain: str | None = None,
             timeout: float = 300) -> list[dict[str, Any]]:
        """Run the mailgun.js driver with ``calls``; one result per call."""
        payload = {"url": self.url, "key": key or self.key, "domain": domain or self.domain, "calls": calls}
        proc = subprocess.run(
            [self.node_path, str(DRIVER)],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=DRIVER.parent,
        )
        assert proc.returncode == 0, f"node driver failed ({proc.returncode}): {proc.stderr[-4000:]}"
        return json.loads(proc.stdout)["results"]

    def ghost_send(self, recipients: list[str], *, email_id: str | None = None, **options: Any) -> dict[str, Any]:
        return self.node([ghost_send_call(recipients, email_id=email_id, **options)])[0]

    def ghost_fetch(self, begin: float, end: float, *, event: str = GHOST_EVENTS, tags: str = "bulk-email",
                    limit: int = 300, domain: str | None = None, max_pages: int = 200) -> dict[str, Any]:
        """Ghost's ``#fetchEventsFromDomain`` with the options its analytics job passes."""
        options = {"limit": limit, "event": event, "tags": tags, "begin": begin, "end": end, "ascending": "yes"}
        call = {"op": "fetchEvents", "options": options, "maxPages": max_pages}
        if domain:
            call["domain"] = domain
        return self.node([call])[0]

    def http(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> httpx.Response:
        with httpx.Client(base_url=self.url, auth=("api", key or self.key), timeout=60) as client:
            return client.request(method, path, **kwargs)

    # -- what the gateway did -----------------------------------------------------------------

    @property
    def outbox_folder(self) -> Path:
        delivery = self.server.gateway.delivery
        folder = getattr(delivery, "folder", None)
        return Path(folder) if folder else Path(self.server.gateway.settings.data_dir) / "outbox"

    def emls(self) -> list[Outboxed]:
        parser = email.parser.BytesParser(policy=email.policy.default)
        found = []
        for path in sorted(self.outbox_folder.rglob("*.eml")):
            with path.open("rb") as handle:
                found.append(Outboxed(path, parser.parse(handle)))  # type: ignore[arg-type]
        return found

    def stored_events(self, domain: str | None = None) -> list[dict[str, Any]]:
        """Every stored event of ``domain`` as the events API would render it, oldest first."""
        storage = self.server.gateway.storage

        async def read() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            after = None
            while True:
                page = await storage.page_events(
                    EventQuery(domain=domain or self.domain, ascending=True, limit=1000, after=after)
                )
                out.extend(event.to_mailgun() for event in page)
                if len(page) < 1000:
                    return out
                after = (page[-1].recorded_at, page[-1].id)

        return self.server.run(read())

    def events_of(self, kind: str, domain: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.stored_events(domain) if e["event"] == kind]

    def count_batches(self) -> int:
        storage = self.server.gateway.storage

        async def count() -> int:
            async with storage.session() as db:
                rows = await db.fetch("SELECT COUNT(*) FROM batches")
            return int(rows[0][0])

        return self.server.run(count())

    def wait_for(self, check: Callable[[], Any], *, timeout: float = 90, interval: float = 0.25,
                 what: str = "condition") -> Any:
        """Poll ``check`` until it returns something truthy; fail with ``what`` on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(interval)

    def wait_events(self, kind: str, count: int, *, recipient: str | None = None, timeout: float = 90,
                    domain: str | None = None) -> list[dict[str, Any]]:
        def check() -> list[dict[str, Any]] | None:
            found = [e for e in self.events_of(kind, domain)
                     if recipient is None or e.get("recipient") == recipient]
            return found if len(found) >= count else None

        return self.wait_for(check, timeout=timeout,
                             what=f"{count} {kind!r} event(s){' for ' + recipient if recipient else ''}")


def ghost_send_call(recipients: list[str], *, email_id: str | None = None, tags: tuple[str, ...] = ("bulk-email",),
                    testmode: bool = False, track_opens: bool = True, delivery_time: str | None = None,
                    per_recipient_id: bool = True, subject: str = "Hello {name}") -> dict[str, Any]:
    """A ``send`` call for the driver: Ghost's message, recipient data and replacements."""
    message = {
        "from": "My Blog <noreply@mg.example.com>",
        "subject": subject,
        "html": '<p>Hi {name_html}</p><a href="{unsubscribe_url}">unsubscribe</a>',
        "plaintext": "Hi {name}\n\nUnsubscribe: {unsubscribe_url}",
        "tags": list(tags),
        "track_opens": track_opens,
        "perRecipientMessageId": per_recipient_id,
    }
    if email_id:
        message["id"] = email_id
    if delivery_time:
        message["deliveryTime"] = delivery_time
    return {
        "op": "send",
        "message": message,
        "recipientData": {address: ghost_recipient(address, i) for i, address in enumerate(recipients)},
        "replacements": GHOST_REPLACEMENTS,
        "config": {"testmode": testmode},
    }
