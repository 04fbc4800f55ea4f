"""What open and click tracking adds to the render cost per recipient (``--only tracking``).

One Ghost batch of 1000 recipients, with the fields Ghost sends (bench/ghost_form.py: its headers,
``v:email-id``, tags, recipient variables) and a 12 KiB newsletter of 20 links plus the text part
Ghost makes of it (each link as ``text [url]``), rendered by the core ``Renderer`` in chunks of
the worker's size, as the worker renders them. Each round renders it as sent and as the tracking
plugin prepares it: the pixel and links marked once per batch, the tokens' head signed for each
chunk in one pass (one HMAC per recipient) and filled while rendering. Two settings: opens only
(what Ghost asks for) and opens and clicks (a domain default: every link of both parts). Two
newsletters: ASCII with a line break after each block (both parts 7-bit) and the same with
typographic characters (both parts base64, as a newsletter with one curly quote goes). Best of
the alternated rounds, so load on a shared machine hits every variant alike.
"""

from __future__ import annotations

import dataclasses
import re
import time

from werkzeug.datastructures import MultiDict

from postgate.domain import Batch, Message, Recipient
from postgate.mailgun.message_form import parse_message
from postgate.render import Renderer
from postgate.testing.fixtures import TEST_DOMAIN
from postgate_tracking.marking import mark
from postgate_tracking.plugin import token_filler
from postgate_tracking.tokens import Signer

from .ghost_form import ghost_fields

BASE_URL = "https://email.mg.example.com"
#: Rows rendered together, as the worker renders a claimed chunk (``chunk_size``'s default).
CHUNK = 100
RECIPIENTS = 1000  # one Ghost batch
TARGET = 1.2


def newsletter_html(links: int = 20, *, typographic: bool = False) -> str:
    """About 12 KiB of HTML with a line break after each block, an Outlook conditional comment and
    ``links`` links; ``typographic``: with curly quotes and dashes (8-bit, so it goes base64)."""
    word = "week’s" if typographic else "week's"
    dash = "—" if typographic else "&mdash;"
    paragraph = (f"<p style=\"margin:0 0 1.5em;line-height:1.6\">A paragraph of this {word} issue with "
                 f"enough words in it to look like a real post, and an entity or two {dash} like this.</p>\n")
    parts = ["<!doctype html><html><head><style>a{color:#15c}</style></head><body>\n",
             "<!--[if mso]><table role=\"presentation\"><tr><td style=\"width:600px\"><![endif]-->\n",
             "<p>Hi %recipient.name_html%,</p>\n"]
    for index in range(links):
        parts.append(paragraph * 3)
        parts.append(f'<a href="https://blog.example.com/p/post-{index}/?ref=newsletter&amp;n={index}" '
                     f'style="color:#15c">Read post {index}</a>\n')
    parts.append("<!--[if mso]></td></tr></table><![endif]-->\n")
    parts.append('<a href="%recipient.unsubscribe_url%">Unsubscribe</a></body></html>')
    return "".join(parts)


def newsletter_text(html: str) -> str:
    """The text part Ghost makes of the HTML: paragraphs as lines, each link as ``text [url]``."""
    text = re.sub(r'<a href="([^"]*)"[^>]*>([^<]*)</a>', lambda link: f"{link[2]} [{link[1].replace('&amp;', '&')}]",
                  html)
    text = re.sub(r"<!--.*?-->|<head>.*?</head>", "", text).replace("</p>", "\n")
    text = re.sub(r"<[^>]+>", "", text).replace("&mdash;", "-").replace("%recipient.name_html%", "%recipient.name%")
    return text.strip() + "\n"


def ghost_message(*, typographic: bool) -> tuple[Message, Batch, list[Recipient]]:
    """The batch as the gateway parses Ghost's request, and its ledger rows."""
    addresses = [f"member{index}@example.com" for index in range(RECIPIENTS)]
    html = newsletter_html(typographic=typographic)
    body = {"html": html, "text": newsletter_text(html)}
    fields = [(name, body.get(name, value)) for name, value in ghost_fields(TEST_DOMAIN, "e" * 24, addresses)]
    message = parse_message(MultiDict(fields), MultiDict(), TEST_DOMAIN)
    batch = Batch(id=1, domain=TEST_DOMAIN, message_id="m@mg.example.com", response_id="<m@mg.example.com>",
                  email_id="e" * 24, tags=message.tags, content=b"", testmode=False, deliver_at=None,
                  created_at=time.time(), enqueued=True, accepted_logged=True, recipient_count=len(addresses))
    variables = message.recipient_variables or {}
    rows = [Recipient(id=index + 1, batch_id=1, domain=TEST_DOMAIN, address=address, name=None,
                      message_id=variables[address]["message_id"], variables=variables[address], status="sending")
            for index, address in enumerate(addresses)]
    return message, batch, rows


def tracked_renderer(batch: Batch, message: Message, *, clicks: bool) -> Renderer:
    """The renderer of the batch as the tracking plugin prepares it (opens, and clicks if asked)."""
    marked = mark(message.html, message.text, base_url=BASE_URL, opens=True, clicks=clicks,
                  list_unsubscribe=message.header("List-Unsubscribe"))
    signer = Signer([("b1", b"bench-secret-0123456789abcdef")])
    return Renderer(batch, dataclasses.replace(message, html=marked.html, text=marked.text),
                    values=token_filler(signer, batch.id, marked))


def per_recipient(renderer: Renderer, rows: list[Recipient]) -> float:
    started = time.perf_counter()
    for start in range(0, len(rows), CHUNK):
        renderer.render_all(rows[start:start + CHUNK])
    return (time.perf_counter() - started) / len(rows)


def bench_render(rounds: int = 7) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    for typographic in (False, True):
        message, batch, rows = ghost_message(typographic=typographic)
        renderers = {"as sent": Renderer(batch, message),
                     "opens": tracked_renderer(batch, message, clicks=False),
                     "opens and clicks": tracked_renderer(batch, message, clicks=True)}
        best = dict.fromkeys(renderers, float("inf"))
        for _ in range(rounds):
            for name, renderer in renderers.items():
                best[name] = min(best[name], per_recipient(renderer, rows))
        shape = "typographic, base64" if typographic else "ASCII, 7bit"
        plain = best["as sent"]
        print(f"tracking render ({shape}): {plain * 1e6:.1f} µs/recipient as sent; " + "; ".join(
            f"{name} {best[name] * 1e6:.1f} µs: {best[name] / plain:.2f}×" for name in ("opens", "opens and clicks"))
            + f" (target ≤ {TARGET}×)")
        figures[shape] = {"plain_us": plain * 1e6, **{f"{name}_ratio": best[name] / plain
                                                       for name in ("opens", "opens and clicks")}}
    return figures
