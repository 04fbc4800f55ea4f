"""Rendering one recipient's RFC 5322 message from a stored batch.

A :class:`Renderer` is made once per batch (it holds the decoded :class:`~postgate.domain.Message`
and everything that does not depend on the recipient); calling it renders one ledger row. The
worker streams a batch through it recipient by recipient, so no batch is ever rendered whole.

Substitution follows Mailgun's batch sending (contract §2.3): ``%recipient.KEY%`` and the built-in
variables are expanded in the subject, the bodies and every ``h:`` value; ``List-Unsubscribe``
drops elements Postgate cannot honour. ``messages.mime`` batches are sent as stored.

Rendering is byte-level: the stdlib ``email`` package renders the MIME structure once per batch
around placeholder payloads, and each recipient only gets its substituted, encoded text parts and
its header lines. Plain ASCII header lines are written directly; anything else is folded by the
stdlib. ``Renderer._build_reference`` renders the same message through ``EmailMessage``; the tests
check that both parse to the same headers and parts.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from email.message import EmailMessage, MIMEPart
from email.headerregistry import AddressHeader, HeaderRegistry, MessageIDHeader, UnstructuredHeader
from email.parser import BytesHeaderParser, BytesParser
from email.policy import SMTP, EmailPolicy
from email.utils import formatdate, parseaddr

from .addresses import valid_address_list
from .body import BodyTemplate, transfer_encoding
from .domain import Attachment, Batch, Message, Recipient, RenderedMessage
from .headers import (UnsafeHeaderValue, check_folded, check_headers, check_message_id, clean_value, fold_ascii,
                      header_block, is_safe, json_value)
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
            elif name.lower() == "x-mailgun-variables" and key[1].isascii() and key[1].isprintable():
                folded = fold_ascii(name, key[1])  # JSON: the stdlib's fold may change its strings
            else:
                folded = super().fold_binary(name, value)
                check_folded(name, folded)
            if len(_FOLDED) >= _FOLDED_MAX:
                _FOLDED.clear()
            _FOLDED[key] = folded
        return folded


#: SMTP line ends, 7-bit transfer encodings (any MTA accepts them), cached registry and folds.
POLICY = _Policy(**{**SMTP.__dict__, "cte_type": "7bit", "header_factory": _CachedHeaderRegistry()})


#: The header class the stdlib uses for each name, reduced to the kinds the fast path knows.
_KINDS: dict[str, type] = {
    name: next((kind for kind in (UnstructuredHeader, AddressHeader, MessageIDHeader) if issubclass(cls, kind)),
               object)
    for name, cls in POLICY.header_factory.registry.items()
}
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_ADDR_SPEC = rf"{_DOT_ATOM}@{_DOT_ATOM}"
#: Printable ASCII words between single spaces: an unstructured value the parser returns as is.
_SAFE_TEXT = re.compile(r"[!-~]+(?: [!-~]+)*")
#: ``addr`` or ``Name Words <addr>`` with nothing to quote, decode or normalise.
_SIMPLE_ENTRY = re.compile(rf"(?:{_ATOM}(?: {_ATOM})* <{_ADDR_SPEC}>|{_ADDR_SPEC})")
_SIMPLE_MSG_ID = re.compile(rf"<{_ADDR_SPEC}>")
_LINE_CACHE_MAX = 1024


class Renderer:
    """Renders the recipients of one batch; ``public_url`` is the gateway's public origin."""

    def __init__(self, batch: Batch, message: Message, *, public_url: str | None = None,
                 values: Callable[[Sequence[Recipient]], Sequence[Mapping[str, str]]] | None = None) -> None:
        self.batch = batch
        #: Extra ``%recipient.KEY%`` values for rows rendered together, one mapping per row (a
        #: ``prepare_template`` hook's, see :class:`~postgate.domain.PreparedTemplate`).
        self.values = values
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
        #: The ``h:`` headers, those without variables checked once (see :meth:`_plan_headers`).
        self.header_plan = self._plan_headers()
        #: The last headers, the same for every recipient.
        self.tail_headers = [*(("X-Mailgun-Tag", tag) for tag in batch.tags), ("X-Postgate-Id", batch.message_id)]
        self._date_second, self._date_value = -1, ""
        #: Why every recipient of this batch must fail (a stored value breaks the header rule).
        self.unsafe: UnsafeHeaderValue | None = None
        try:
            check_headers([*constant, ("To", ", ".join(message.to))], after_substitution=False)
        except UnsafeHeaderValue as exc:
            self.unsafe = exc
        #: Headers every recipient shares, parsed once per batch.
        self.parsed = {(k, v): POLICY.header_factory(k, v) for k, v in constant if v and is_safe(v)}
        self._prepare_parts()
        #: Folded header lines, by ``(name, value)``: the constant ones and recent others.
        self.lines: dict[tuple[str, str], bytes] = {}
        #: Body templates by the transfer encodings of the text parts (see :meth:`_template`).
        self.templates: dict[tuple[str, ...], list[bytes]] = {}
        #: The text parts with their transfer-encoding decisions made once per batch (body.py).
        self.text_body, self.html_body = BodyTemplate(message.text), BodyTemplate(message.html)
        self.amp_body = BodyTemplate(message.amp_html)
        #: The byte-level path, unless the stdlib would refuse the header set (it allows one
        #: ``Sender``, ``Reply-To``… per message) and the reference path must raise as it does.
        self.fast = not self._too_many_headers()
        self.mime_headers: list[tuple[str, str]] = []
        self.mime_has_id = False
        self.mime_eol = b"\r\n"
        if message.mime is not None:
            parsed = BytesHeaderParser(policy=POLICY).parsebytes(message.mime)
            try:
                self.mime_headers = [(k, str(v)) for k, v in parsed.items()]
            except Exception:  # noqa: BLE001 - stored before accept parsed every header: raw values
                self.mime_headers = [(k, str(v)) for k, v in parsed.raw_items()]
            self.mime_has_id = "message-id" in {k.lower() for k, _ in self.mime_headers}
            self.mime_eol = header_block(message.mime)[1]  # an added line ends as the others do
            if not message.sender:
                self.envelope_from = parseaddr(next((v for k, v in parsed.raw_items() if k.lower() == "from"), ""))[1]

    def __call__(self, recipient: Recipient) -> RenderedMessage:
        """One recipient's message (a ``values`` function is asked for this row alone)."""
        return self._render(recipient, None if self.values is None else self._extra([recipient])[0])

    def render_all(self, rows: Sequence[Recipient]) -> list[RenderedMessage | Exception]:
        """Each row's message, or the exception that failed it: one bad recipient fails alone,
        and a ``values`` function that raises fails the rows it was asked for. ``values`` is
        called once for all of them, so a plugin can do its per-row work in one pass."""
        extra: Sequence[Mapping[str, str] | None] = [None] * len(rows)
        if self.values is not None:
            try:
                extra = self._extra(rows)
            except Exception as exc:  # noqa: BLE001 - a plugin's failure fails these rows, not the worker
                return [exc] * len(rows)
        results: list[RenderedMessage | Exception] = []
        for row, more in zip(rows, extra):
            try:
                results.append(self._render(row, more))
            except Exception as exc:  # noqa: BLE001 - one bad recipient must not stall the chunk
                results.append(exc)
        return results

    def _extra(self, rows: Sequence[Recipient]) -> Sequence[Mapping[str, str]]:
        """The ``values`` function's mappings for ``rows``, checked to be one per row."""
        extra = self.values(rows) if self.values is not None else ()
        if len(extra) != len(rows):
            raise ValueError(f"prepare_template values gave {len(extra)} mappings for {len(rows)} rows")
        return extra

    def _render(self, recipient: Recipient, extra: Mapping[str, str] | None) -> RenderedMessage:
        parts: Sequence[bytes] = ()
        if self.message.mime is not None:
            headers, raw = self._mime(recipient)
        elif self.fast:
            headers, lines = self._build_parts(recipient, extra)
            raw, parts = b"".join(lines), lines  # this recipient's own list: no copy
        else:
            headers, raw = self._build_reference(recipient, extra)
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
            parts=parts,
        )

    @staticmethod
    def _variables(recipient: Recipient, extra: Mapping[str, str] | None) -> Mapping[str, Any]:
        """The recipient's ``%recipient.KEY%`` values, with a ``prepare_template`` hook's added."""
        return recipient.variables if extra is None else {**recipient.variables, **extra}

    def _mime(self, recipient: Recipient) -> tuple[list[tuple[str, str]], bytes]:
        if self.mime_has_id:
            return list(self.mime_headers), self.message.mime or b""
        check_message_id(recipient.message_id)
        headers = [("Message-ID", f"<{recipient.message_id}>"), *self.mime_headers]
        line = f"Message-ID: <{recipient.message_id}>".encode("ascii", "replace")
        return headers, line + self.mime_eol + (self.message.mime or b"")

    def _headers(self, recipient: Recipient, substitute: Substituter) -> list[tuple[str, str]]:
        """The recipient's header values; each follows the header rule (constants were checked
        once per batch), else :class:`UnsafeHeaderValue` fails this recipient."""
        if self.unsafe is not None:
            raise self.unsafe
        message = self.message
        entry = recipient_entry(recipient.name, recipient.address)
        if message.batch_mode:
            check_headers([("To", entry)])
        headers: list[tuple[str, str]] = [("From", message.sender)]
        headers.append(("To", entry if message.batch_mode else ", ".join(message.to)))
        if message.cc:
            headers.append(("Cc", ", ".join(message.cc)))
        if message.subject is not None:
            headers.append(("Subject", clean_value("Subject", substitute(message.subject) or "",
                                                   after_substitution=True)))
        headers.append(("Date", self._date()))
        check_message_id(recipient.message_id)
        headers.append(("Message-ID", f"<{recipient.message_id}>"))
        for name, value, constant in self.header_plan:
            if constant is not None:  # no variable in it: checked once per batch
                if isinstance(constant, UnsafeHeaderValue):
                    raise constant
                headers.append((name, constant))
                continue
            if name.lower() == "list-unsubscribe":
                value = substitute.list_unsubscribe(value)
                if not value:
                    continue
            else:
                template, value = value, substitute(value) or ""
                if value != template and _KINDS.get(name.lower()) is AddressHeader and not valid_address_list(value):
                    raise UnsafeHeaderValue(name, value, after_substitution=True,
                                            problem="not be a valid address list")
            headers.append((name, clean_value(name, value, after_substitution=True)))
        variables = user_variables(message.variables, self.variables_header, substitute)
        if variables:
            headers.append(("X-Mailgun-Variables", json_value(variables)))
        headers.extend(self.tail_headers)
        return headers

    def _date(self) -> str:
        """The ``Date`` value, formatted once per second (its resolution)."""
        now = int(time.time())
        if now != self._date_second:
            self._date_value, self._date_second = formatdate(now, usegmt=True), now
        return self._date_value

    def _plan_headers(self) -> list[tuple[str, str, str | UnsafeHeaderValue | None]]:
        """Each ``h:`` header with, when it holds no variable, its checked value (or why it
        fails every recipient), worked out once per batch."""
        plan: list[tuple[str, str, str | UnsafeHeaderValue | None]] = []
        for name, value in self.extra_headers:
            constant: str | UnsafeHeaderValue | None = None
            if "%" not in value and name.lower() != "list-unsubscribe":
                try:
                    constant = clean_value(name, value, after_substitution=True)
                except UnsafeHeaderValue as exc:
                    constant = exc
            plan.append((name, value, constant))
        return plan

    def _build(self, recipient: Recipient, extra: Mapping[str, str] | None = None) -> tuple[list[tuple[str, str]], bytes]:
        """The recipient's headers and message (see :meth:`_build_parts`)."""
        if not self.fast:
            return self._build_reference(recipient, extra)
        headers, lines = self._build_parts(recipient, extra)
        return headers, b"".join(lines)

    def _build_parts(self, recipient: Recipient,
                     extra: Mapping[str, str] | None = None) -> tuple[list[tuple[str, str]], list[bytes]]:
        """Plain header lines written directly, the rest folded by the stdlib, and the body filled
        into a per-batch byte template; the message's pieces in order. Steps run in the reference
        path's order (header values checked, bodies encoded, headers folded), so a failing
        recipient fails the same way."""
        substitute = Substituter(recipient_entry(recipient.name, recipient.address), self._variables(recipient, extra))
        headers = self._headers(recipient, substitute)
        lines = [self._header_line(name, value) for name, value in headers]
        amp = self.amp_body.pieces(substitute) if self.html_body.text is not None else None
        bodies = [self.text_body.pieces(substitute), amp, self.html_body.pieces(substitute)]
        encoded = [body for body in bodies if body is not None] or [("7bit", [b"\r\n"])]
        ctes = tuple(cte for cte, _ in encoded)
        payloads = [payload for _, payload in encoded]
        template = self.templates.get(ctes)
        if template is None:
            template = self.templates[ctes] = self._template(ctes)
        for index, line in enumerate(lines):
            if line.__class__ is not bytes:
                lines[index] = self._fold(*headers[index], line)
        lines.append(template[0])
        for payload, after in zip(payloads, template[1:]):
            lines.extend(payload)
            lines.append(after)
        return headers, lines

    def _header_line(self, name: str, value: str) -> Any:
        """The folded line when it is known or plain (written as the stdlib would, or an equivalent
        fold), else the stdlib's header object for :meth:`_fold` (raising as ``mail[name] =``)."""
        key = (name, value)
        line = self.lines.get(key)
        if line is not None:
            return line
        parsed = self.parsed.get(key)
        if parsed:  # a constant, parsed once per batch
            return parsed
        if name == "X-Mailgun-Variables":  # printable ASCII JSON (json_value): folded exactly
            if len(self.lines) >= _LINE_CACHE_MAX:
                self.lines = {}
            line = self.lines[key] = fold_ascii(name, value)
            return line
        kind = _KINDS.get(name.lower(), UnstructuredHeader) if name.isascii() else object
        if kind is UnstructuredHeader:
            if len(name) <= 52 and _SAFE_TEXT.fullmatch(value) and "=?" not in value:
                if len(name) + len(value) <= 76:  # one line, as the stdlib writes it
                    return f"{name}: {value}\r\n".encode("ascii")
                if len(value) <= 77:  # the stdlib moves the whole value to a continuation line
                    return f"{name}:\r\n {value}\r\n".encode("ascii")
                if " " not in value and len(name) + len(value) <= 996:
                    # One long word (a List-Unsubscribe URL): the stdlib would spread it over
                    # encoded words, which decode to the same value; one line up to 998 is valid.
                    return f"{name}: {value}\r\n".encode("ascii")
                if name.lower() == "list-unsubscribe" and len(name) + max(map(len, value.split(" "))) <= 994:
                    # Several <URI> elements (a link and a mailto:): folded at the spaces between
                    # them, never into encoded words, which List-Unsubscribe readers do not decode.
                    return fold_ascii(name, value)
        elif kind is AddressHeader:
            if _SIMPLE_ENTRY.fullmatch(value) and "=?" not in value and len(name) + len(value) <= 76:
                return f"{name}: {value}\r\n".encode("ascii")
        elif kind is MessageIDHeader:
            if _SIMPLE_MSG_ID.fullmatch(value) and "=?" not in value and len(name) + len(value) <= 996:
                return f"{name}: {value}\r\n".encode("ascii")
        return POLICY.header_store_parse(name, value)[1]

    def _fold(self, name: str, value: str, header: Any) -> bytes:
        """The stdlib's fold, remembered: constants, ``Date`` and a non-batch ``To`` repeat."""
        line = POLICY.fold_binary(name, header)
        if len(self.lines) >= _LINE_CACHE_MAX:
            self.lines = {}
        self.lines[(name, value)] = line
        return line

    def _too_many_headers(self) -> bool:
        names = ["from", "to", "cc", "subject", "date", "message-id", "x-mailgun-variables", "x-postgate-id",
                 "mime-version", "content-type", "content-transfer-encoding"]
        names += [name.lower() for name, _ in self.extra_headers]
        counts: dict[str, int] = {}
        for name in names:
            counts[name] = counts.get(name, 0) + 1
        return any(count > 1 and (POLICY.header_max_count(name) or count) < count for name, count in counts.items())

    def _template(self, ctes: tuple[str, ...]) -> list[bytes]:
        """The MIME headers and body of the message with the text parts left out: the stdlib
        renders it once per batch (and transfer-encoding choice) around placeholder payloads."""
        slots = [f"PGSLOT{self.token}X{index}" for index in range(len(ctes))]
        parts = iter(zip(slots, ctes))

        def text_part(_content: str | None, subtype: str) -> MIMEPart:
            slot, cte = next(parts)
            part = MIMEPart(policy=POLICY)
            part["Content-Type"] = self.text_types[subtype]
            part["Content-Transfer-Encoding"] = self.encodings[cte]
            part.set_payload(slot + "\n")
            return part

        mail = EmailMessage(policy=POLICY)
        message = self.message
        self._assemble(mail, message.text, message.html, message.amp_html, text_part)
        raw = mail.as_bytes()
        pieces = []
        for slot in slots:
            before, found, raw = raw.partition(slot.encode("ascii") + b"\r\n")
            if not found:  # pragma: no cover - the stdlib always writes payloads verbatim
                raise RuntimeError("body template lost a payload slot")
            pieces.append(before)
        pieces.append(raw)
        return pieces

    def _build_reference(self, recipient: Recipient,
                         extra: Mapping[str, str] | None = None) -> tuple[list[tuple[str, str]], bytes]:
        """The whole message through ``email.message.EmailMessage``: what the fast path must match
        (tests compare the two), and the path for batches whose headers the stdlib refuses."""
        substitute = Substituter(recipient_entry(recipient.name, recipient.address), self._variables(recipient, extra))
        headers = self._headers(recipient, substitute)
        mail = EmailMessage(policy=POLICY)
        parsed = self.parsed
        for name, value in headers:
            mail[name] = parsed.get((name, value)) or value
        self._body(mail, substitute)
        return headers, mail.as_bytes()

    def _body(self, mail: EmailMessage, substitute: Substituter) -> None:
        message = self.message
        self._assemble(mail, substitute(message.text), substitute(message.html), substitute(message.amp_html),
                       self._text_part)

    def _assemble(self, mail: EmailMessage, text: str | None, html: str | None, amp: str | None,
                  text_part: Callable[[str | None, str], MIMEPart]) -> None:
        """The MIME tree: alternative(text, amp, related(html, inline…)) inside mixed(…, files)."""
        alternatives = []
        if text is not None:
            alternatives.append(text_part(text, "plain"))
        if amp is not None and html is not None:
            alternatives.append(text_part(amp, "x-amp-html"))
        if html is not None:
            html_node = text_part(html, "html")
            if self.inline_parts:
                html_node = self._container("related", [html_node, *self.inline_parts])
            alternatives.append(html_node)
        if not alternatives:
            alternatives.append(text_part("", "plain"))
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
        cte = transfer_encoding(content)
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
        self.token = token = secrets.token_hex(12)
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
    return dataclasses.replace(rendered, raw=mail.as_bytes(), parts=())
