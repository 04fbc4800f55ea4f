"""Ghost 6.65 newsletter batches as bytes on the wire, the way mailgun.js 10.4.0 + form-data 4.0.6 send them.

Same field order as Ghost's ``MailgunClient.send`` (contract §2.2), same multipart framing as
form-data (a ``--------------------------<24 digits>`` boundary, no per-part Content-Type), so the
gateway parses exactly what it parses in production, without a Node process in the timing loop.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import time


def recipient_message_id(email_id: str, address: str, domain: str) -> str:
    digest = hashlib.sha256(f"{email_id}:{address}".encode()).hexdigest()[:32]
    return f"{email_id}.{digest}@{domain}"


#: One paragraph of filler for newsletters of a chosen size (``html_kb``).
FILLER = ("<p style=\"margin:0 0 1.5em;line-height:1.6\">This week we look at what changed, "
          "what did not, and what comes next for the members of this blog.</p>\n")


def ghost_html(html_kb: int = 0) -> str:
    """The newsletter's HTML; padded to about ``html_kb`` KiB in lines of a real newsletter's length."""
    greeting = "<p>Hi %recipient.name_html%, here is this week's issue.</p>"
    unsubscribe = '<a href="%recipient.unsubscribe_url%">Unsubscribe</a></body></html>'
    if not html_kb:
        return "<html><body>" + greeting * 20 + unsubscribe
    return ("<html><body>\n" + (greeting + "\n") * 20 + FILLER * (html_kb * 1024 // len(FILLER)) + unsubscribe)


def ghost_fields(domain: str, email_id: str, recipients: list[str], html_kb: int = 0) -> list[tuple[str, str]]:
    """The (name, value) pairs of one batch, in Ghost's order (``html_kb``: pad the HTML body to
    about that many KiB, as a real newsletter's; 0: a short body)."""
    variables = {}
    for index, address in enumerate(recipients):
        variables[address] = {
            "name": f"Member {index}",
            "name_html": f"Member&nbsp;{index}",
            "unsubscribe_url": f"https://blog.example.com/unsubscribe/?uuid={secrets.token_hex(16)}&newsletter=n1",
            "list_unsubscribe": f"https://blog.example.com/unsubscribe/?uuid={secrets.token_hex(16)}&key=k",
            "message_id": recipient_message_id(email_id, address, domain),
        }
    sender = f"My Blog <noreply@{domain}>"
    html = ghost_html(html_kb)
    fields = [("to", address) for address in recipients]
    fields += [
        ("from", sender),
        ("subject", "Weekly issue for %recipient.name%"),
        ("html", html),
        ("text", "Hi %recipient.name%\n" + "This week's issue.\n" * 20 + "Unsubscribe: %recipient.unsubscribe_url%"),
        ("recipient-variables", json.dumps(variables, separators=(",", ":"))),
        ("h:Sender", sender),
        ("h:Auto-Submitted", "auto-generated"),
        ("h:X-Auto-Response-Suppress", "OOF, AutoReply"),
        ("h:List-Unsubscribe", "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>"),
        ("h:List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("v:email-id", email_id),
        ("o:tag", "ghost-email"),
        ("o:tag", "bulk-email"),
        ("o:tracking-opens", "yes"),
        ("h:Message-Id", "<%recipient.message_id%>"),
    ]
    return fields


def form_data(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    """A multipart body framed like form-data 4.0.6; returns ``(body, content_type)``."""
    boundary = "--------------------------" + "".join(str(random.randint(0, 9)) for _ in range(24))
    chunks = []
    for name, value in fields:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8") + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def ghost_batch(domain: str, recipients: list[str], email_id: str | None = None,
                html_kb: int = 0) -> tuple[bytes, str]:
    """One batch, ready to POST to ``/v3/<domain>/messages``."""
    return form_data(ghost_fields(domain, email_id or secrets.token_hex(12), recipients, html_kb))


def member_addresses(count: int, offset: int = 0) -> list[str]:
    stamp = int(time.time())
    return [f"member{offset + i}.{stamp}@example.com" for i in range(count)]
