"""CPU per recipient of the whole send path in one process, as a worker runs it (``--only render``).

A Ghost-shaped batch (``ghost_html`` padded to ``html_kb`` KiB, ~75 KB of MIME per message: the
``sendpath`` bench's shape, with Ghost's headers, tags and five recipient variables; once in
7-bit HTML and once with typographic apostrophes, which make the HTML part base64) goes
recipient by recipient through :class:`~postgate.render.Renderer` and the ``ses`` delivery's
``send_one`` with ``send_client = "http"`` (SES's message rules, the ``SendEmail`` request with
the MIME in base64, SigV4, one aiohttp ``POST``) against :class:`~postgate_ses.standin.SesStandin`
on a loopback port. The stand-in runs in a thread of its own: the figures are the CPU time of
the sending thread alone (``time.thread_time``), split into rendering and sending, plus the
SES delivery's per-message work without the HTTP call (checks, the request body with the MIME in
base64 from the message's parts, signature).

``python -m bench.send_cpu [recipients] [html_kb]`` prints the figures as JSON; run it with
``PYTHONPATH`` pointing at another checkout's ``gateway`` and ``plugins/ses`` to compare code
in the same sitting.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
import types
from datetime import datetime, timezone
from typing import Any

from postgate.domain import Batch, Message, Recipient, RecipientStatus

from .ghost_form import ghost_html

DOMAIN = "mg.example.com"
#: The ``h:`` headers Ghost sends with every batch.
GHOST_HEADERS = [("Sender", f"My Blog <noreply@{DOMAIN}>"), ("Auto-Submitted", "auto-generated"),
                 ("X-Auto-Response-Suppress", "OOF, AutoReply"),
                 ("List-Unsubscribe", "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>"),
                 ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"), ("Message-Id", "<%recipient.message_id%>")]


def ghost_batch(recipients: int, html_kb: int, eight_bit: bool = False) -> tuple[Batch, Message, list[Recipient]]:
    """A stored Ghost batch as the worker reads it back (Ghost's fields, headers and variables);
    ``eight_bit``: with typographic apostrophes, as a post written in Ghost's editor has (the
    HTML part then goes base64)."""
    sender = f"My Blog <noreply@{DOMAIN}>"
    html = ghost_html(html_kb).replace("week's", "week\u2019s") if eight_bit else ghost_html(html_kb)
    message = Message(
        domain=DOMAIN, sender=sender, to=[f"m{i}@example.com" for i in range(recipients)],
        subject="Weekly issue for %recipient.name%", html=html, recipient_variables={},
        text="Hi %recipient.name%\n" + "This week's issue.\n" * 20 + "Unsubscribe: %recipient.unsubscribe_url%",
        headers=GHOST_HEADERS, variables={"email-id": "6740a1b2c3d4e5f6a7b8c9d0"}, tags=["ghost-email", "bulk-email"],
        tracking_opens=True)
    return stored_batch(message), message, ghost_rows(recipients)


def stored_batch(message: Message) -> Batch:
    """Batch 7 of ``message``, as storage gives it to the worker."""
    return Batch(id=7, domain=DOMAIN, message_id=f"20251121050000.0123456789abcdef@{DOMAIN}", response_id="<x>",
                 email_id="e", tags=list(message.tags), content=b"", testmode=False, deliver_at=None,
                 created_at=0.0, enqueued=True, accepted_logged=True, recipient_count=len(message.to))


def ghost_rows(recipients: int) -> list[Recipient]:
    """Ledger rows with Ghost's recipient variables (name, unsubscribe links, Message-ID)."""
    return [Recipient(
        id=i, batch_id=7, domain=DOMAIN, address=f"m{i}@example.com", name=None, message_id=f"e1.{i:032x}@{DOMAIN}",
        variables={"name": f"Member {i}", "name_html": f"Member&nbsp;{i}",
                   "unsubscribe_url": f"https://blog.example.com/unsubscribe/?uuid={secrets.token_hex(16)}&n=n1",
                   "list_unsubscribe": f"https://blog.example.com/unsubscribe/?uuid={secrets.token_hex(16)}&key=k",
                   "message_id": f"e1.{i:032x}@{DOMAIN}"},
        status=RecipientStatus.SENDING) for i in range(recipients)]


class _Gateway:
    """What ``SesDelivery`` reads from its gateway: settings, and a sink for state reports."""

    def __init__(self, endpoint: str) -> None:
        from postgate_ses.settings import SesSettings

        self.ses = SesSettings(endpoint_url=endpoint, max_send_rate=1e6, send_client="http")
        self.settings = types.SimpleNamespace(
            gateway=types.SimpleNamespace(chunk_size=100, lease_seconds=300, in_doubt="hold"),
            backends=types.SimpleNamespace(event_sources=["ses"]))

    def plugin_settings(self, name: str) -> Any:
        return self.ses

    def report_delivery_state(self, *args: Any) -> None:
        pass


async def _measure(recipients: int, html_kb: int, eight_bit: bool) -> dict[str, float]:
    from postgate.render import Renderer
    from postgate_ses.delivery import SesDelivery, check_raw
    from postgate_ses.http_send import request_body
    from postgate_ses.standin import SesStandin

    batch, message, rows = ghost_batch(recipients + 1, html_kb, eight_bit)
    renderer = Renderer(batch, message)
    with SesStandin() as standin:
        delivery = SesDelivery(_Gateway(standin.url))  # type: ignore[arg-type]
        await delivery.start()
        try:
            first = renderer(rows[0])
            assert (await delivery.send_one(first)).outcome == "sent"  # type: ignore[union-attr]
            render = send = 0.0
            for row in rows[1:]:
                started = time.thread_time()
                rendered = renderer(row)
                between = time.thread_time()
                result = await delivery.send_one(rendered)
                send += time.thread_time() - between
                render += between - started
                assert result is not None and result.outcome == "sent", result
            http = delivery._http  # noqa: SLF001 - the client send_one uses
            assert http is not None
            started = time.thread_time()
            for row in rows[1:]:  # the per-message work without the call: checks, body, signature
                check_raw(first.raw)
                encoder = getattr(delivery, "_base64", None)  # older code: no base64 of parts
                data = encoder.encode(first.raw, first.parts) if encoder is not None else None
                body = request_body(delivery.send_params(first), *([data] if data is not None else []))
                http.signer.headers(body, http.credentials.get_frozen_credentials(), datetime.now(timezone.utc))
            request = time.thread_time() - started
        finally:
            await delivery.stop()
    assert standin.count() == recipients + 1
    per = 1000 / recipients
    return {"message_kb": len(first.raw) / 1024, "render_ms": render * per, "send_ms": send * per,
            "total_ms": (render + send) * per, "request_ms": request * per}


def bench_send_cpu(recipients: int = 1000, html_kb: int = 70) -> dict[str, float]:
    """The figures of one run for a 7-bit and an 8-bit newsletter (see the module documentation),
    each printed as one line."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(name, value)
    figures: dict[str, float] = {}
    for label, eight_bit in (("7-bit", False), ("8-bit", True)):
        run = asyncio.run(_measure(recipients, html_kb, eight_bit))
        print(f"send path, {recipients} recipients of a {run['message_kb']:.0f} KB Ghost message ({label} HTML), "
              f"CPU of the sending thread per recipient: {run['total_ms']:.3f} ms = render {run['render_ms']:.3f} + "
              f"send_one {run['send_ms']:.3f} (of which checks, request body and signature {run['request_ms']:.3f})")
        figures.update({f"{label.replace('-', '')}_{name}": value for name, value in run.items()})
    return figures


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    kb = int(sys.argv[2]) if len(sys.argv) > 2 else 70
    print(json.dumps(bench_send_cpu(count, kb)))
