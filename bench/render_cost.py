"""``python -m bench --only render``: CPU time to render one recipient of a Ghost-shaped batch.

The batch is a long newsletter (about 84 KB per message: 400 HTML paragraphs and 300 text lines,
each with the member's name, plus unsubscribe links), rendered recipient by recipient through
:class:`~postgate.render.Renderer` as the worker does. Reported: process CPU time per recipient
(after one warm-up render), and the slow path of the text parts alone for comparison (substitute,
scan every line for the transfer encoding, convert line ends), per recipient.
"""

from __future__ import annotations

import secrets
import time

from postgate.domain import Batch, Message, Recipient, RecipientStatus
from postgate.substitution import Substituter, recipient_entry

DOMAIN = "mg.example.com"
PARAGRAPH = ('<p style="margin:0 0 1.5em 0;line-height:1.6em;font-size:18px">Hi %recipient.name_html%, this is '
             "a paragraph of this week's long newsletter issue with some words.</p>\n")


def newsletter(recipients: int) -> tuple[Batch, Message, list[Recipient]]:
    html = "<html><body>\n" + PARAGRAPH * 400 + '<a href="%recipient.unsubscribe_url%">Unsubscribe</a></body></html>'
    text = ("Hi %recipient.name%\n" + "This week's issue, a fairly long line of plain text for the reader.\n" * 300
            + "Unsubscribe: %recipient.unsubscribe_url%")
    message = Message(
        domain=DOMAIN, sender=f"My Blog <noreply@{DOMAIN}>", to=[f"m{i}@example.com" for i in range(recipients)],
        subject="Weekly issue for %recipient.name%", html=html, text=text, recipient_variables={},
        headers=[("Sender", f"My Blog <noreply@{DOMAIN}>"), ("Auto-Submitted", "auto-generated"),
                 ("X-Auto-Response-Suppress", "OOF, AutoReply"),
                 ("List-Unsubscribe", "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>"),
                 ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"), ("Message-Id", "<%recipient.message_id%>")],
        variables={"email-id": "6740a1b2c3d4e5f6a7b8c9d0"}, tags=["ghost-email", "bulk-email"])
    batch = Batch(id=7, domain=DOMAIN, message_id=f"20251121050000.0123456789abcdef@{DOMAIN}", response_id="<x>",
                  email_id="e", tags=list(message.tags), content=b"", testmode=False, deliver_at=None,
                  created_at=0.0, enqueued=True, accepted_logged=True, recipient_count=recipients)
    rows = [Recipient(
        id=i, batch_id=7, domain=DOMAIN, address=f"m{i}@example.com", name=None, message_id=f"e1.{i:032x}@{DOMAIN}",
        variables={"name": f"Member {i}", "name_html": f"Member&nbsp;{i}",
                   "unsubscribe_url": f"https://blog.example.com/unsubscribe/?uuid={secrets.token_hex(16)}&n=n1",
                   "list_unsubscribe": f"https://blog.example.com/unsubscribe/?uuid={secrets.token_hex(16)}&key=k",
                   "message_id": f"e1.{i:032x}@{DOMAIN}"},
        status=RecipientStatus.SENDING) for i in range(recipients)]
    return batch, message, rows


def bench_render(recipients: int) -> dict[str, float]:
    from postgate.render import Renderer

    batch, message, rows = newsletter(recipients)
    renderer = Renderer(batch, message)
    size = len(renderer(rows[0]).raw)
    started = time.process_time()
    for row in rows:
        renderer(row)
    per_recipient = (time.process_time() - started) / len(rows) * 1000
    figures = {"message_kb": size / 1024, "cpu_ms_per_recipient": per_recipient}
    line = f"render {len(rows)} recipients of a {size / 1024:.0f} KB message: {per_recipient:.3f} ms CPU per recipient"
    try:
        from postgate.body import BodyTemplate
    except ImportError:  # an older gateway: no per-batch body templates to compare with
        print(line)
        return figures
    bodies = [BodyTemplate(message.text), BodyTemplate(message.html)]
    started = time.process_time()
    for row in rows:
        substitute = Substituter(recipient_entry(row.name, row.address), row.variables)
        for body in bodies:
            body.slow(substitute)
    slow = (time.process_time() - started) / len(rows) * 1000
    started = time.process_time()
    for row in rows:
        substitute = Substituter(recipient_entry(row.name, row.address), row.variables)
        for body in bodies:
            body(substitute)
    fast = (time.process_time() - started) / len(rows) * 1000
    figures.update(bodies_slow_ms=slow, bodies_template_ms=fast)
    print(f"{line}; text parts alone: {slow:.3f} ms per-recipient scan vs {fast:.3f} ms per-batch template")
    return figures
