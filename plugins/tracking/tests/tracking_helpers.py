"""A live gateway with the tracking plugin, Ghost-shaped batches, and reading the outbox."""

from __future__ import annotations

import email
import email.policy
import re
import time
from pathlib import Path

import httpx

from bench.ghost_form import form_data, ghost_fields
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth

BASE_URL = "https://email.mg.example.com"
KEYS = "k2:second-secret-0123456789,k1:first-secret-0123456789"
OUTLOOK = ("<!--[if mso]><table role=\"presentation\"><tr><td style=\"width:600px\">"
           "<![endif]-->")
OUTLOOK_END = "<!--[if mso]></td></tr></table><![endif]-->"
HTML = (
    "<html><head><style>a{color:red}</style></head><body>" + OUTLOOK
    + "<p>Hi %recipient.name_html%,</p>"
    + '<p><a href="https://blog.example.com/p/one/?ref=news&amp;utm=1" class="x">One</a> and '
    + "<a title='two' href='https://blog.example.com/p/two/'>Two</a> and "
    + '<a href="mailto:editor@example.com">mail</a> <a href="#top">top</a> '
    + '<a data-no-track href="https://blog.example.com/private/">private</a></p>'
    + OUTLOOK_END
    + '<a href="%recipient.unsubscribe_url%">Unsubscribe</a></body></html>'
)
TEXT = "Read https://blog.example.com/p/one/?ref=news&utm=1 now.\nUnsubscribe: %recipient.unsubscribe_url%"


def tracking_settings(**extra) -> dict:
    return {"tracking": {"base_url": BASE_URL, "flush_seconds": 0.05, **extra}}


def send_batch(server, recipients: list[str], email_id: str, **options: str) -> str:
    fields = [(k, v) for k, v in ghost_fields(TEST_DOMAIN, email_id, recipients) if not k.startswith("o:tracking")]
    fields = [(k, HTML if k == "html" else TEXT if k == "text" else v) for k, v in fields]
    fields += [(f"o:{name.replace('_', '-')}", value) for name, value in options.items()]
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as http:
        content, content_type = form_data(fields)
        answer = http.post(f"/v3/{TEST_DOMAIN}/messages", content=content, headers={"Content-Type": content_type})
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def outbox(server, count: int, timeout: float = 30.0) -> list[email.message.EmailMessage]:
    folder = Path(server.gateway.delivery.folder) / TEST_DOMAIN
    deadline = time.monotonic() + timeout
    while True:
        files = sorted(folder.glob("*.eml")) if folder.exists() else []
        if len(files) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(files) == count
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]


def body(mail, subtype: str) -> str:
    part = mail.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else ""


def tracking_urls(mail) -> tuple[str | None, list[str]]:
    html = body(mail, "html")
    pixel = re.search(r'<img src="([^"]+/t/o/[^"]+\.gif)"', html)
    links = re.findall(r"""href=["']([^"']+/t/c/[^"']+)["']""", html)
    return (pixel.group(1) if pixel else None), links


def local(server, url: str) -> str:
    """A tracking URL of the message, pointed at the live server (the TLS proxy's job)."""
    assert url.startswith(BASE_URL + "/t/")
    return server.url + url[len(BASE_URL):]


def events(server, kind: str, count: int, timeout: float = 15.0) -> list[dict]:
    """The domain's events of ``kind`` as Ghost pages them, once ``count`` are there."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as http:
        while True:
            items = http.get(f"/v3/{TEST_DOMAIN}/events", params={"event": kind, "limit": 300}).json()["items"]
            if len(items) >= count or time.monotonic() > deadline:
                return items
            time.sleep(0.05)
