"""Hostile ``%recipient.KEY%`` values on the whole per-recipient send path: render (per-batch
templates), SES's message rules, the ``SendEmail`` request. A value holding CR, LF, NUL, U+2028
or any other line break either fails its recipient (a header would hold it) or ends up inside
one header field or the body, never as a header of its own; every rendered message is one SES
accepts, and the request carries it byte for byte."""

from __future__ import annotations

import base64
import json
import re
import types
from email.parser import BytesParser
from email.policy import default

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from postgate.domain import Batch, Message, Recipient, RecipientStatus
from postgate.headers import FORBIDDEN, UnsafeHeaderValue
from postgate.render import Renderer
from postgate_ses.delivery import SesDelivery, check_raw
from postgate_ses.http_send import request_body
from postgate_ses.raw_base64 import Base64Parts

DOMAIN = "mg.example.com"
HOSTILE = st.lists(st.sampled_from([
    "\r", "\n", "\r\n", "\x00", "\x0b", "\x1c", "\x85", "\u2028", "\u2029", "\r\nBcc: evil@example.com",
    "\n\nbody", "\r\n ", "%", "%recipient_email%", "%recipient.name%", "=?utf-8?q?a=0D=0A?=", "é", "\U0001f600",
    "Member", " ", "x" * 400, "{0}", "<", ">", "@", ",",
]), max_size=6).map("".join)
KEYS = ("name", "name_html", "unsubscribe_url", "list_unsubscribe")


def ghost_message() -> Message:
    html = "<html><body>\n" + "<p>Hi %recipient.name_html%, this week's issue.</p>\n" * 30 + \
        '<a href="%recipient.unsubscribe_url%">Unsubscribe</a></body></html>'
    return Message(
        domain=DOMAIN, sender=f"My Blog <noreply@{DOMAIN}>", to=["a@example.com"], subject="Issue for %recipient.name%",
        html=html, text="Hi %recipient.name%\nUnsubscribe: %recipient.unsubscribe_url%", recipient_variables={},
        headers=[("Sender", f"My Blog <noreply@{DOMAIN}>"), ("X-Member", "%recipient.name_html%"),
                 ("List-Unsubscribe", "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>"),
                 ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")],
        variables={"email-id": "e1"}, tags=["bulk-email"], tracking_opens=True)


ENCODER = Base64Parts()
SENDER = types.SimpleNamespace(settings=types.SimpleNamespace(configuration_set="postgate"), tracking=True)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.fixed_dictionaries({}, optional={key: HOSTILE for key in KEYS}), min_size=1, max_size=3))
@example([{"name": "a\r\nBcc: evil@example.com", "name_html": "\u2028", "list_unsubscribe": "\x00"}])
@example([{"name": "Ann", "name_html": "x\nX-Evil: 1", "unsubscribe_url": "\r\n\r\nbody"}])
def test_hostile_values_never_split_a_header_and_reach_ses_intact(variables):
    message = ghost_message()
    batch = Batch(id=7, domain=DOMAIN, message_id=f"b.1@{DOMAIN}", response_id="<x>", email_id="e1", tags=["bulk-email"],
                  content=b"", testmode=False, deliver_at=None, created_at=0.0, enqueued=True, accepted_logged=True,
                  recipient_count=len(variables))
    renderer = Renderer(batch, message)
    for index, values in enumerate(variables):
        row = Recipient(id=index + 1, batch_id=7, domain=DOMAIN, address=f"m{index}@example.com", name=None,
                        message_id=f"e1.{index}@{DOMAIN}", variables=values, status=RecipientStatus.SENDING)
        try:
            rendered = renderer(row)
        except UnsafeHeaderValue as failed:  # only a header that holds a value can fail
            assert failed.name in ("Subject", "X-Member", "List-Unsubscribe"), failed
            continue
        head, _, _ = rendered.raw.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n"):  # one field or a continuation, 7-bit
            assert re.fullmatch(rb"[!-9;-~]+:[ -~\t]*|[ \t][ -~\t]*", line), line
        mail = BytesParser(policy=default).parsebytes(rendered.raw)
        assert sorted(name.lower() for name in mail.keys()) == sorted(name.lower() for name, _ in [
            *rendered.headers, ("MIME-Version", ""), ("Content-Type", "")])
        assert all(FORBIDDEN.search(value) is None for _, value in rendered.headers)
        assert str(mail["Subject"]) == dict(rendered.headers)["Subject"]
        assert check_raw(rendered.raw) is None
        data = ENCODER.encode(rendered.raw, rendered.parts)
        body = json.loads(request_body(SesDelivery.send_params(SENDER, rendered), data))
        assert base64.b64decode(body["Content"]["Raw"]["Data"]) == rendered.raw
        assert body["Destination"] == {"ToAddresses": [row.address]}
