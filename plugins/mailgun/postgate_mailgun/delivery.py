"""The ``mailgun`` delivery backend: send through an upstream Mailgun account's HTTP API.

Postgate renders every recipient's message itself (substitutions, per-recipient
``List-Unsubscribe``, the ``prepare_message`` hooks), so each ledger row is one
``POST /v3/{upstream domain}/messages.mime`` with the rendered MIME, ``to`` = the recipient and two
user variables, ``v:postgate-rcpt`` (the ledger row id) and ``v:postgate-batch`` (the batch id),
which every upstream event carries back. The calls of a worker's send call share one pooled
``httpx.AsyncClient`` (keep-alive), at most ``max_connections`` in flight per process. Why not one
batch send with ``recipient-variables`` per 1,000 recipients: see ``docs/mailgun-relay.md``.

Answers map as :mod:`postgate_mailgun.outcomes` says. A 429 also slows the backend down: every
call goes through a :class:`~postgate_mailgun.pacing.Pacer`, which pauses for the upstream's
``Retry-After`` (or a doubling backoff), halves the calls in flight and the ``max_send_rate`` in
use, and recovers them gradually. A 401/403/404 pauses sending for
``paused_retry_seconds`` (:meth:`MailgunDelivery.check` fails meanwhile, so ``/health/ready``
answers 503) and fails the whole call: every row without an answer is retried by the ledger.

Mailgun has no idempotency key. A call that got no answer (5xx, read timeout) is *in doubt*: the
row comes back after its lease and :meth:`MailgunDelivery.settle` decides it from the upstream's
own record: a provider id already written by the event source (from the upstream's ``accepted``
event) or an ``accepted`` event found now for the recipient with our ``postgate-rcpt`` variable
means ``sent``; none within ``in_doubt_grace_seconds`` means the upstream never took it
(``unsent``: sent again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from postgate import Delivery, DeliveryResult, OutcomeSink, Recipient, RenderedMessage

from .outcomes import REFUSED, UpstreamRefused, bare_id, from_error, from_response
from .pacing import Held, Pacer, wait_hint
from .upstream import answer_json, answer_text, make_client

if TYPE_CHECKING:
    from postgate import Gateway

    from .settings import RelaySettings

log = logging.getLogger("postgate.mailgun_relay")

#: The user variables that tie an upstream message to Postgate's ledger.
RCPT_VARIABLE = "postgate-rcpt"
BATCH_VARIABLE = "postgate-batch"
#: Tags Mailgun accepts on one message.
MAX_TAGS = 3
#: How far back :meth:`MailgunDelivery.settle` looks for the upstream's ``accepted`` event.
SETTLE_LOOKBACK_SECONDS = 86400  # the shortest event retention Mailgun offers
#: How long a check that the upstream takes the key for a domain holds.
KEY_CHECK_SECONDS = 300.0
#: Most pages of one recipient's ``accepted`` events read while settling one row.
SETTLE_MAX_PAGES = 10


def send_fields(message: RenderedMessage) -> dict[str, str | list[str]]:
    """The form fields of one ``messages.mime`` call besides the ``message`` file."""
    clicks = message.tracking_clicks
    fields: dict[str, str | list[str]] = {
        "to": message.recipient,
        f"v:{RCPT_VARIABLE}": str(message.recipient_id),
        f"v:{BATCH_VARIABLE}": str(message.batch_id),
        "o:tracking-opens": "yes" if message.tracking_opens else "no",
        "o:tracking-clicks": "htmlonly" if clicks == "htmlonly" else "yes" if clicks else "no",
    }
    if message.tags:
        fields["o:tag"] = list(message.tags[:MAX_TAGS])
    return fields


class MailgunDelivery(Delivery):
    """Delivery through an upstream Mailgun account (see the module documentation)."""

    name = "mailgun"
    resend_in_doubt = False

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway)
        self.settings: RelaySettings = gateway.plugin_settings("mailgun_relay")
        self.concurrency = self.settings.concurrency
        self.lease_seconds = float(gateway.settings.gateway.lease_seconds)
        self.pacer = Pacer(self.settings.max_connections, backoff=self.settings.rate_limit_backoff_seconds,
                           max_pause=self.settings.rate_limit_max_pause_seconds,
                           max_wait=min(self.settings.rate_limit_max_wait_seconds, self.lease_seconds / 2))
        self.client: httpx.AsyncClient | None = None
        self.paused_until = 0.0
        self.pause_reason = ""
        self._unanswered: dict[int, float] = {}  # recipient id -> when its unanswered call started
        self._doubt_seen: dict[int, float] = {}  # recipient id -> first claim in doubt seen here
        self._key_checked: dict[str, float] = {}  # upstream domain -> when the key was last taken

    @property
    def max_rate(self) -> float | None:  # type: ignore[override]
        """``max_send_rate`` scaled down by the pacer after a 429 (back to whole as it recovers)."""
        base = self.settings.max_send_rate
        return None if base is None else base * self.pacer.factor

    async def start(self) -> None:
        self.client = make_client(self.settings)

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def check(self) -> None:
        if self.paused_until > time.time():
            raise RuntimeError(f"sending through the upstream Mailgun is paused: {self.pause_reason}; next "
                               f"attempt in {self.paused_until - time.time():.0f} s")

    def _pause(self, reason: str) -> None:
        if self.paused_until <= time.time():
            self.gateway.report_delivery_state("paused", reason, self.settings.paused_retry_seconds)
        self.paused_until = time.time() + self.settings.paused_retry_seconds
        self.pause_reason = reason

    # -- sending ------------------------------------------------------------------------------

    async def send(self, messages: Sequence[RenderedMessage]) -> list[DeliveryResult]:
        collected: dict[int, DeliveryResult] = {}

        class Collect:
            async def dispatching(self, ids: Sequence[int]) -> Sequence[int]:
                return ids

            async def result(self, result: DeliveryResult) -> None:
                collected[result.recipient_id] = result

        await self.send_each(messages, Collect())
        held = "not sent: sending through the upstream Mailgun paused during the call"
        return [collected.get(m.recipient_id) or DeliveryResult(m.recipient_id, "failed", code=451, enhanced_code="4.3.0",
                                                                 reason="generic", message=held)
                for m in messages]

    async def send_each(self, messages: Sequence[RenderedMessage], sink: OutcomeSink) -> None:
        """One upstream call per message, concurrently; each answer goes to ``sink`` as it comes."""
        if self.client is None:
            raise RuntimeError("the mailgun delivery backend is not started")
        await self.check()
        for domain in sorted({self.settings.upstream_domain(m.domain) for m in messages}):
            await self._check_key(domain)
        # Every call runs to its end (no cancellation mid-request, which would leave it in doubt).
        outcomes = await asyncio.gather(*(self._send_streamed(m, sink) for m in messages), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _check_key(self, domain: str) -> None:
        """Ask the upstream, before anything is dispatched, whether it takes the key for ``domain``
        (at most every :data:`KEY_CHECK_SECONDS`). An upload refused with 401 may reach the client
        as a dropped connection, which would leave every message of the call in doubt."""
        assert self.client is not None
        if time.time() - self._key_checked.get(domain, -KEY_CHECK_SECONDS) < KEY_CHECK_SECONDS:
            return
        try:
            response = await self.client.get(f"/v3/{domain}/events", params={"limit": "1"})
        except httpx.HTTPError:
            return  # unreachable: the sends find out and are retried
        if response.status_code in REFUSED:
            self._pause(f"the upstream Mailgun answered {response.status_code} for {domain}: "
                        f"{answer_text(response)}")
            raise UpstreamRefused(self.pause_reason)
        self._key_checked[domain] = time.time()

    async def _send_streamed(self, message: RenderedMessage, sink: OutcomeSink) -> None:
        try:
            async with self.pacer.turn() as turn:
                if self.paused_until > time.time():
                    return  # refused meanwhile: left without an answer, retried by the ledger
                if message.recipient_id not in await sink.dispatching([message.recipient_id]):
                    return  # another worker took the row over
                result = await self.send_one(message, turn)
        except Held as held:  # never handed to the upstream: back to the ledger, sent later
            result = DeliveryResult(message.recipient_id, "unsent", message=str(held))
        await sink.result(result)

    async def send_one(self, message: RenderedMessage, turn: float | None = None) -> DeliveryResult:
        """One ``messages.mime`` call, mapped to a result (raises :class:`UpstreamRefused`);
        ``turn``: when the pacer let it start (its clock), so that its answer paces the next."""
        assert self.client is not None
        domain = self.settings.upstream_domain(message.domain)
        started = time.time()
        turn = self.pacer.clock() if turn is None else turn
        try:
            response = await self.client.post(f"/v3/{domain}/messages.mime", data=send_fields(message),
                                              files={"message": ("message.mime", message.raw, "message/rfc822")})
        except httpx.HTTPError as exc:
            result = from_error(message.recipient_id, exc)
        else:
            self._pace(response, turn)
            try:
                result = from_response(message.recipient_id, response)
            except UpstreamRefused as exc:
                self._pause(str(exc))
                self._key_checked.clear()
                raise
        if result.outcome == "unknown":
            self._unanswered[message.recipient_id] = started
        return result

    def _pace(self, response: httpx.Response, turn: float) -> None:
        """Tell the pacer what the answer says of the upstream's rate (see :mod:`.pacing`)."""
        if response.status_code != 429:
            if 200 <= response.status_code < 300:
                self.pacer.answered(turn)
            return
        cut = self.pacer.cut_at
        pause = self.pacer.limited(turn, wait_hint(response.headers, time.time()))
        if self.pacer.cut_at != cut:
            reason = (f"the upstream Mailgun answered 429: sending paused {pause:.1f} s, then one probe call, "
                      f"then at most {int(self.pacer.limit)} call(s) in flight, growing back to {self.pacer.ceiling}")
            log.warning("%s", reason)
            self.gateway.report_delivery_state("throttled", reason)

    # -- in doubt -----------------------------------------------------------------------------

    async def settle(self, recipients: Sequence[Recipient]) -> dict[int, DeliveryResult]:
        """Settle rows whose call got no answer, from the upstream's ``accepted`` events."""
        now = time.time()
        grace = self.settings.in_doubt_grace_seconds
        settled: dict[int, DeliveryResult] = {}
        for row in recipients:
            provider_id = row.provider_id or await self._accepted_id(row)
            if provider_id:
                settled[row.id] = DeliveryResult(row.id, "sent", provider_id=provider_id,
                                                 message="Accepted by the upstream Mailgun (settled from its events)")
                self._forget(row.id)
                continue
            if provider_id is None:
                continue  # the upstream could not be asked: still in doubt
            claimed = row.lease_until - self.lease_seconds if row.lease_until is not None else now
            first = self._doubt_seen.setdefault(row.id, claimed)
            started = min(first, self._unanswered.get(row.id, first))
            if now - started >= grace:
                settled[row.id] = DeliveryResult(row.id, "unsent", message=(
                    f"not accepted by the upstream Mailgun: no accepted event within {grace:.0f} s"))
                self._forget(row.id)
        return settled

    async def _accepted_id(self, row: Recipient) -> str | None:
        """The upstream message id of ``row``'s accepted event; ``""``: none; ``None``: unknown."""
        assert self.client is not None
        domain = self.settings.upstream_domain(row.domain)
        params = {"event": "accepted", "recipient": row.address, "ascending": "yes", "limit": "300",
                  "begin": f"{time.time() - SETTLE_LOOKBACK_SECONDS:.0f}"}
        path: str | None = f"/v3/{domain}/events"
        pages = 0
        try:
            while path is not None and pages < SETTLE_MAX_PAGES:
                pages += 1
                response = await self.client.get(path, params=params)
                if response.status_code in REFUSED:
                    self._pause(f"the upstream Mailgun answered {response.status_code} when asked for events")
                if response.status_code != 200:
                    log.warning("settling row %s: upstream events answered %s", row.id, response.status_code)
                    return None
                page = answer_json(response)
                items = [item for item in page.get("items") or [] if isinstance(item, dict)]
                for item in items:
                    if _is_row(item, row):
                        headers = (item.get("message") or {}).get("headers") or {}
                        return bare_id(str(headers.get("message-id") or "")) or "accepted"
                path, params = (_next_path(page) if items else None), {}
        except httpx.HTTPError as exc:
            log.warning("settling row %s: upstream events unreachable: %r", row.id, exc)
            return None
        return "" if path is None else None  # pages left unread: cannot tell yet

    def _forget(self, recipient_id: int) -> None:
        self._doubt_seen.pop(recipient_id, None)
        self._unanswered.pop(recipient_id, None)


def _is_row(item: dict[str, Any], row: Recipient) -> bool:
    variables = item.get("user-variables")
    if not isinstance(variables, dict):
        return False
    return (str(variables.get(RCPT_VARIABLE)) == str(row.id)
            and str(variables.get(BATCH_VARIABLE, row.batch_id)) == str(row.batch_id))


def _next_path(page: dict[str, Any]) -> str | None:
    from .upstream import same_origin_path

    link = (page.get("paging") or {}).get("next")
    if not isinstance(link, str) or not link:
        return None
    try:
        return same_origin_path(link)
    except ValueError:
        return None
