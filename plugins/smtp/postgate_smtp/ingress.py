"""The SMTP dialogue's decisions, as an aiosmtpd handler: who may send, from where, to whom, and
what each accepted message becomes (``gateway.accept``, the Mailgun API's own path).

Mailgun's conventions: AUTH PLAIN or LOGIN with ``postmaster@<domain>`` (any login at the domain
does) and the domain's API key, checked by the ``check_api_key`` hook exactly as the HTTP API
checks it; MAIL FROM at the authenticated domain; every reply a one-line SMTP status.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

from postgate import ApiError, Gateway
from postgate.addresses import valid_address
from postgate.mailgun.message_form import MAX_RECIPIENTS

from .receiving import Receiver
from .smtp_message import Envelope, smtp_message

log = logging.getLogger("postgate.smtp.ingress")

#: Longest login (an address) and password (an API key) read; longer ones are wrong credentials.
MAX_LOGIN = 320
MAX_PASSWORD = 512
#: What may appear in a reply line: printable ASCII (client text included in an error is cut down).
UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
MAX_REPLY_TEXT = 300
INTERNAL_ERROR = "451 4.3.0 Internal error; the message was not accepted, try again later"


@dataclass(frozen=True, slots=True)
class Sender:
    """An authenticated SMTP client: its login and the sending domain the key opened."""

    login: str
    domain: str


def reply_text(text: str) -> str:
    """``text`` fit for one reply line: printable ASCII only, and not too long."""
    cleaned = UNPRINTABLE.sub("?", text)
    return cleaned if len(cleaned) <= MAX_REPLY_TEXT else cleaned[:MAX_REPLY_TEXT] + "..."


def refusal(error: ApiError) -> str:
    """The SMTP reply for an error the HTTP API would answer with ``error.status``."""
    text = reply_text(error.message)
    if error.status == 413:
        return f"552 5.3.4 {text}"
    if error.status >= 500:
        return f"451 4.3.0 {text}"
    return f"550 5.6.0 {text}"


def login_domain(login: bytes) -> str | None:
    """The domain of a ``user@domain`` login, lower case; ``None`` when it is not one."""
    if len(login) > MAX_LOGIN:
        return None
    try:
        text = login.decode("utf-8")
    except UnicodeDecodeError:
        return None
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or UNPRINTABLE.search(text):
        return None
    return domain.lower()


class IngressHandler:
    """aiosmtpd hooks for one gateway (shared by every session of the listener)."""

    def __init__(self, gateway: Gateway, receiver: Receiver | None = None) -> None:
        self.gateway = gateway
        #: Mail without AUTH for the receive domains (``None``: every client must log in).
        self.receiver = receiver
        #: Messages being handed over now (the listener waits for them to stop).
        self.in_flight = 0

    # -- AUTH -------------------------------------------------------------------------------

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        """aiosmtpd's ``authenticator``: the login's domain must be served and the password be a
        key the ``check_api_key`` hook accepts for it."""
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        domain = login_domain(auth_data.login)
        if (domain is None or domain not in self.gateway.domains or len(auth_data.password) > MAX_PASSWORD):
            return AuthResult(success=False, handled=False)
        try:
            key = auth_data.password.decode("utf-8")
        except UnicodeDecodeError:
            return AuthResult(success=False, handled=False)
        if not key or not self.gateway.check_api_key(domain, key):
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=Sender(auth_data.login.decode("utf-8"), domain))

    # -- the envelope -----------------------------------------------------------------------

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        sender = session.auth_data
        if not isinstance(sender, Sender):  # never relay without AUTH; receive only for claimed mailboxes
            if self.receiver is None:
                return "530 5.7.0 Authentication required"
            refused = self.receiver.mail(mail_options)
            if refused is not None:
                return refused
        elif address.rpartition("@")[2].lower() != sender.domain:
            return f"550 5.7.1 The sender must be an address at {sender.domain}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if not isinstance(session.auth_data, Sender):
            refused = ("530 5.7.0 Authentication required" if self.receiver is None
                       else await self.receiver.rcpt(address, len(envelope.rcpt_tos)))
            if refused is not None:
                return refused
        elif len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return f"452 4.5.3 Too many recipients, max is {MAX_RECIPIENTS} per message"
        if not valid_address(address):
            return "553 5.1.3 The recipient is not a valid address"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    # -- the message ------------------------------------------------------------------------

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        sender = session.auth_data
        if not isinstance(sender, Sender):
            if self.receiver is None:
                return "530 5.7.0 Authentication required"
            self.in_flight += 1
            try:
                return await self.receiver.data(envelope, session.peer)
            finally:
                self.in_flight -= 1
        raw = envelope.original_content or b""
        self.in_flight += 1
        try:
            message = smtp_message(Envelope(sender.domain, envelope.mail_from, list(envelope.rcpt_tos)), raw)
            queued = await self.gateway.accept(message)
        except ApiError as exc:
            log.info("SMTP message from %s refused: %s", reply_text(sender.login), reply_text(exc.message))
            return refusal(exc)
        finally:
            self.in_flight -= 1
        return f"250 2.0.0 Ok: queued as {reply_text(queued)}"

    async def handle_exception(self, error: Exception) -> str:
        """Anything unexpected: logged once with its traceback; the client is told to try again,
        and nothing about the failure is written to it."""
        log.error("SMTP session error", exc_info=(type(error), error, error.__traceback__))
        return INTERNAL_ERROR
