"""``python -m bench --only render``: CPU time to render one recipient of a Ghost-shaped batch.

The batch is a long newsletter (about 84 KB per message: 400 HTML paragraphs and 300 text lines,
each with the member's name, plus unsubscribe links), rendered recipient by recipient through
:class:`~postgate.render.Renderer` as the worker does. Reported: process CPU time per recipient
(after one warm-up render), and the slow path of the text parts alone for comparison (substitute,
scan every line for the transfer encoding, convert line ends), per recipient. Then, with the SES
plugin installed, the whole send path per recipient (bench/send_cpu.py).
"""

from __future__ import annotations

import time

from postgate.domain import Batch, Message, Recipient
from postgate.substitution import Substituter, recipient_entry

from .send_cpu import DOMAIN, GHOST_HEADERS, ghost_rows, stored_batch
PARAGRAPH = ('<p style="margin:0 0 1.5em 0;line-height:1.6em;font-size:18px">Hi %recipient.name_html%, this is '
             "a paragraph of this week's long newsletter issue with some words.</p>\n")


def newsletter(recipients: int) -> tuple[Batch, Message, list[Recipient]]:
    html = "<html><body>\n" + PARAGRAPH * 400 + '<a href="%recipient.unsubscribe_url%">Unsubscribe</a></body></html>'
    text = ("Hi %recipient.name%\n" + "This week's issue, a fairly long line of plain text for the reader.\n" * 300
            + "Unsubscribe: %recipient.unsubscribe_url%")
    message = Message(
        domain=DOMAIN, sender=f"My Blog <noreply@{DOMAIN}>", to=[f"m{i}@example.com" for i in range(recipients)],
        subject="Weekly issue for %recipient.name%", html=html, text=text, recipient_variables={},
        headers=list(GHOST_HEADERS), variables={"email-id": "6740a1b2c3d4e5f6a7b8c9d0"}, tags=["ghost-email", "bulk-email"])
    return stored_batch(message), message, ghost_rows(recipients)


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
    try:
        import postgate_ses  # noqa: F401 - the send path needs the SES plugin
    except ImportError:
        return figures
    from .send_cpu import bench_send_cpu

    figures.update({f"send_path_{name}": value for name, value in bench_send_cpu(recipients).items()})
    return figures
