"""The ``prepare_template`` hook: a batch's message changed once, per-recipient values filled while
rendering, events still built from the stored message."""

from __future__ import annotations

import dataclasses
from email import message_from_bytes
from email.policy import default

from postgate import PreparedTemplate
from postgate.domain import Message
from postgate.hookspecs import hookimpl
from postgate.testing.fixtures import TEST_DOMAIN

from .test_pipeline import drain, eml_files, events_of


class Footer:
    """Adds a per-recipient footer to the HTML, counting how often the hook ran."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def prepare_template(self, batch, message):
        self.calls += 1
        html = message.html.replace("</body>", "<p>%recipient.footer-test-id%</p></body>")
        return PreparedTemplate(dataclasses.replace(message, html=html, subject="changed"),
                                values=lambda rows: [{"footer-test-id": f"row-{row.id}-of-{batch.id}"} for row in rows])


async def test_the_template_is_prepared_once_and_filled_per_recipient(gateway_factory) -> None:
    footer = Footer()
    gw = gateway_factory(plugins=[footer])
    await gw.start()
    message = Message(domain=TEST_DOMAIN, sender="Blog <noreply@mg.example.com>",
                      to=["ann@example.com", "bob@example.com"], subject="Hello %recipient.name%",
                      html="<html><body><p>Hi %recipient.name%</p></body></html>",
                      recipient_variables={"ann@example.com": {"name": "Ann"}, "bob@example.com": {"name": "Bob"}})
    await gw.accept(message)
    await drain(gw)
    assert footer.calls == 1
    mails = [message_from_bytes(path.read_bytes(), policy=default) for path in eml_files(gw)]
    rows = {row.address: row for row in await gw.storage.list_recipients(1, 0, 10)}
    bodies = {mail["To"].addresses[0].addr_spec: mail.get_body(("html",)).get_content() for mail in mails}
    assert bodies == {address: f"<html><body><p>Hi {name}</p><p>row-{rows[address].id}-of-1</p></body></html>\r\n"
                      for address, name in (("ann@example.com", "Ann"), ("bob@example.com", "Bob"))}
    assert {mail["Subject"] for mail in mails} == {"changed"}
    delivered = await events_of(gw, "delivered")
    assert sorted(e.payload["message"]["headers"]["subject"] for e in delivered) == ["Hello Ann", "Hello Bob"]


class Signature:
    """A second plugin: its values are merged with the first one's, row by row."""

    @hookimpl
    def prepare_template(self, batch, message):
        html = message.html.replace("</body>", "<p>%recipient.sig-test%</p></body>")
        return PreparedTemplate(dataclasses.replace(message, html=html),
                                values=lambda rows: [{"sig-test": f"sig-{row.address}"} for row in rows])


async def test_two_plugins_values_fill_their_own_keys(gateway_factory) -> None:
    gw = gateway_factory(plugins=[Footer(), Signature()])
    await gw.start()
    message = Message(domain=TEST_DOMAIN, sender="Blog <noreply@mg.example.com>",
                      to=["ann@example.com", "bob@example.com"], subject="Hi",
                      html="<html><body><p>Hi</p></body></html>", recipient_variables={})
    await gw.accept(message)
    await drain(gw)
    rows = {row.address: row.id for row in await gw.storage.list_recipients(1, 0, 10)}
    mails = [message_from_bytes(path.read_bytes(), policy=default) for path in eml_files(gw)]
    bodies = {mail["To"].addresses[0].addr_spec: mail.get_body(("html",)).get_content() for mail in mails}
    assert set(bodies) == set(rows)
    for address, body in bodies.items():
        assert f"<p>row-{rows[address]}-of-1</p>" in body and f"<p>sig-{address}</p>" in body
