"""Rendering one recipient's RFC 5322 message from a stored batch.

A :class:`Renderer` is made once per batch (it holds the decoded :class:`~postgate.domain.Message`
and everything that does not depend on the recipient); calling it renders one ledger row. The
worker streams a batch through it recipient by recipient, so no batch is ever rendered whole.

Substitution follows Mailgun's batch sending (contract §2.3): ``%recipient.KEY%`` and the built-in
variables are expanded in the subject, the bodies and every ``h:`` value; ``List-Unsubscribe``
drops elements Postgate cannot honour. ``messages.mime`` batches are sent as stored.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import time
from email.message import EmailMessage, MIMEPart
from email.headerregistry import HeaderRegistry
from email.parser import BytesHeaderParser, BytesParser
from email.policy import SMTP, EmailPolicy
from email.utils import formatdate, parseaddr

from .domain import Attachment, Batch, Message, Recipient, RenderedMessage
from .substitution import Substituter, recipient_entry, user_variables

#: Headers the renderer sets itself; ``h:`` values with these names are not copied.
OWN_HEADERS = frozenset({
    "from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "content-type",
    "content-transfer-encoding", "x-mailgun-variables", "x-mailgun-tag", "x-postgate-id",
})


class _CachedHeaderRegistry(HeaderRegistry):
    """The stdlib registry builds a new header class on every lookup; build each one once."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found


_FOLDED: dict[tuple[str, str], bytes] = {}
_FOLDED_MAX = 4096


class _Policy(EmailPolicy):
    """Folding a header is the costliest step of rendering, and most headers repeat across the
    recipients of a batch: remember recent folds."""

    def fold_binary(self, name: str, value: str) -> bytes:
        key = (name, str(value))
        folded = _FOLDED.get(key)
        if folded is None:
            if name.lower() == "message-id" and key[1].isascii():  # one line, as MTAs expect
                folded = f"{name}: {key[1]}{self.linesep}".encode("ascii")
            else:
                folded = super().fold_binary(name, value)
            if len(_FOLDED) >= _FOLDED_MAX:
                _FOLDED.clear()
            _FOLDED[key] = folded
        return folded


#: SMTP line ends, 7-bit transfer encodings (any MTA accepts them), cached registry and folds.
POLICY = _Policy(**{**SMTP.__dict__, "cte_type": "7bit", "header_factory": _CachedHeaderRegistry()})


def _one_line(value: str) -> str:
    """Header values never carry line breaks (no header injection through variables)."""
    return " ".join(value.splitlines()) if ("\n" in value or "\r" in value) else value


def _cte(text: str) -> str:
    """7bit when the text allows it, else base64 (C-fast; the stdlib would try quoted-printable
    in pure Python first, which costs more than the rest of a render)."""
    if text.isascii() and all(len(line) <= 990 for line in text.splitlines()):
        return "7bit"
    return "base64"


class Renderer:
    """Renders the recipients of one batch; ``public_url`` is the gateway's public origin."""

    def __init__(self, batch: Batch, message: Message, *, public_url: str | None = None) -> None:
        self.batch = batch
        self.message = message
        self.public_url = public_url
        self.envelope_from = parseaddr(message.sender)[1] or message.sender
        self.extra_headers = [(k, v) for k, v in message.headers if k.lower() not in OWN_HEADERS]
        self.variables_header = message.header("X-Mailgun-Variables")
        self.inline = [a for a in message.attachments if a.inline]
        self.files = [a for a in message.attachments if not a.inline]
        constant = [("From", message.sender), ("Cc", ", ".join(message.cc)), ("X-Postgate-Id", batch.message_id),
                    *(("X-Mailgun-Tag", tag) for tag in batch.tags),
                    *((k, v) for k, v in self.extra_headers if "%" not in v and "\n" not in v and "\r" not in v)]
        #: Headers every recipient shares, parsed once per batch.
        self.parsed = {(k, v): POLICY.header_factory(k, v) for k, v in constant if v}
        self._prepare_parts()
        self.mime_headers: list[tuple[str, str]] = []
        self.mime_has_id = False
        if message.mime is not None:
            parsed = BytesHeaderParser(policy=POLICY).parsebytes(message.mime)
            self.mime_headers = [(k, str(v)) for k, v in parsed.items()]
            self.mime_has_id = "message-id" in {k.lower() for k, _ in self.mime_headers}
            if not message.sender:
                self.envelope_from = parseaddr(str(parsed.get("From", "")))[1]

    def __call__(self, recipient: Recipient) -> RenderedMessage:
        if self.message.mime is not None:
            headers, raw = self._mime(recipient)
        else:
            headers, raw = self._build(recipient)
        return RenderedMessage(
            recipient_id=recipient.id,
            batch_id=self.batch.id,
            domain=self.batch.domain,
            envelope_from=self.envelope_from,
            recipient=recipient.address,
            message_id=recipient.message_id,
            headers=headers,
            raw=raw,
            tags=list(self.batch.tags),
            tracking_opens=self.message.tracking_opens,
            tracking_clicks=self.message.tracking_clicks,
        )

    def _mime(self, recipient: Recipient) -> tuple[list[tuple[str, str]], bytes]:
        if self.mime_has_id:
            return list(self.mime_headers), self.message.mime or b""
        line = f"Message-ID: <{recipient.message_id}>"
        return [("Message-ID", f"<{recipient.message_id}>"), *self.mime_headers], (
            line.encode("ascii", "replace") + b"\r\n" + (self.message.mime or b"")
        )

    def _build(self, recipient: Recipient) -> tuple[list[tuple[str, str]], bytes]:
        message = self.message
        entry = recipient_entry(recipient.name, recipient.address)
        substitute = Substituter(entry, recipient.variables)
        headers: list[tuple[str, str]] = [("From", message.sender)]
        headers.append(("To", entry if message.batch_mode else ", ".join(message.to)))
        if message.cc:
            headers.append(("Cc", ", ".join(message.cc)))
        if message.subject is not None:
            headers.append(("Subject", _one_line(substitute(message.subject) or "")))
        headers.append(("Date", formatdate(time.time(), usegmt=True)))
        headers.append(("Message-ID", f"<{recipient.message_id}>"))
        for name, value in self.extra_headers:
            if name.lower() == "list-unsubscribe":
                value = substitute.list_unsubscribe(value)
                if not value:
                    continue
            else:
                value = substitute(value) or ""
            headers.append((name, _one_line(value)))
        variables = user_variables(message.variables, self.variables_header, substitute)
        if variables:
            headers.append(("X-Mailgun-Variables", json.dumps(variables, ensure_ascii=False)))
        headers.extend(("X-Mailgun-Tag", tag) for tag in self.batch.tags)
        headers.append(("X-Postgate-Id", self.batch.message_id))

        mail = EmailMessage(policy=POLICY)
        parsed = self.parsed
        for name, value in headers:
            mail[name] = parsed.get((name, value)) or value
        self._body(mail, substitute)
        return headers, mail.as_bytes()

    def _body(self, mail: EmailMessage, substitute: Substituter) -> None:
        """The MIME tree: alternative(text, amp, related(html, inline…)) inside mixed(…, files)."""
        message = self.message
        text, html, amp = substitute(message.text), substitute(message.html), substitute(message.amp_html)
        alternatives = []
        if text is not None:
            alternatives.append(self._text_part(text, "plain"))
        if amp is not None and html is not None:
            alternatives.append(self._text_part(amp, "x-amp-html"))
        if html is not None:
            html_node = self._text_part(html, "html")
            if self.inline_parts:
                html_node = self._container("related", [html_node, *self.inline_parts])
            alternatives.append(html_node)
        if not alternatives:
            alternatives.append(self._text_part("", "plain"))
        node = alternatives[0] if len(alternatives) == 1 else self._container("alternative", alternatives)
        if self.file_parts:
            node = self._container("mixed", [node, *self.file_parts])
        mail["MIME-Version"] = self.mime_version
        for name in ("Content-Type", "Content-Transfer-Encoding", "Content-Disposition"):
            if name in node:
                mail[name] = node[name]
        mail.set_payload(node.get_payload())

    def _text_part(self, content: str, subtype: str) -> MIMEPart:
        part = MIMEPart(policy=POLICY)
        part["Content-Type"] = self.text_types[subtype]
        cte = _cte(content)
        part["Content-Transfer-Encoding"] = self.encodings[cte]
        if cte == "base64":
            part.set_payload(base64.encodebytes(content.encode("utf-8")).decode("ascii"))
        else:
            part.set_payload(content if content.endswith("\n") else content + "\n")
        return part

    def _container(self, subtype: str, parts: list[MIMEPart]) -> MIMEPart:
        container = MIMEPart(policy=POLICY)
        container["Content-Type"] = self.multipart_types[subtype]
        container.set_payload(parts)
        return container

    def _prepare_parts(self) -> None:
        """Headers and attachment parts every recipient shares, built once per batch."""
        header = POLICY.header_factory
        token = secrets.token_hex(12)
        self.mime_version = header("MIME-Version", "1.0")
        self.text_types = {sub: header("Content-Type", f'text/{sub}; charset="utf-8"')
                           for sub in ("plain", "html", "x-amp-html")}
        self.encodings = {cte: header("Content-Transfer-Encoding", cte) for cte in ("7bit", "base64")}
        # base64 never contains "=_", and the random part keeps 7bit bodies from colliding.
        self.multipart_types = {
            sub: header("Content-Type", f'multipart/{sub};{extra} boundary="=_{sub}_{token}"')
            for sub, extra in (("alternative", ""), ("related", ' type="text/html";'), ("mixed", ""))
        }
        self.inline_parts = [self._file_part(item, inline=True) for item in self.inline]
        self.file_parts = [self._file_part(item, inline=False) for item in self.files]

    @staticmethod
    def _file_part(item: Attachment, *, inline: bool) -> MIMEPart:
        maintype, _, subtype = item.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        part = MIMEPart(policy=POLICY)
        part.set_content(item.data, maintype=maintype, subtype=subtype, filename=item.filename,
                         disposition="inline" if inline else "attachment",
                         cid=f"<{item.filename}>" if inline else None)
        return part


def render(batch: Batch, message: Message, recipient: Recipient, *,
           public_url: str | None = None) -> RenderedMessage:
    """Render one recipient's message (build a :class:`Renderer` to render many)."""
    return Renderer(batch, message, public_url=public_url)(recipient)


def with_changed_headers(rendered: RenderedMessage, before: list[tuple[str, str]]) -> RenderedMessage:
    """Rewrite ``raw`` after a ``prepare_message`` hook changed ``headers``.

    Every header named in ``before`` or in the new list is replaced by the new list's values; the
    MIME structure headers and the body stay as rendered.
    """
    if rendered.headers == before:
        return rendered
    mail = BytesParser(policy=POLICY).parsebytes(rendered.raw)
    for name in {n.lower() for n, _ in before} | {n.lower() for n, _ in rendered.headers}:
        del mail[name]
    for name, value in rendered.headers:
        mail[name] = value
    return dataclasses.replace(rendered, raw=mail.as_bytes())
