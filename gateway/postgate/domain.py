"""Plain data types that travel between the ingress, the pipeline and the backends.

Everything here is a small dataclass with no behaviour tied to a framework, so plugins can build,
read and test them without starting a gateway.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Union

# ---------------------------------------------------------------------------------------------
# Ingress: what a Mailgun API call (or any other entry door) hands to ``gateway.accept``.


@dataclass(slots=True)
class Attachment:
    """A file part of a message (``attachment`` or ``inline``)."""

    filename: str
    content_type: str
    data: bytes
    inline: bool = False


@dataclass(slots=True)
class Message:
    """A send request as parsed from the Mailgun API, before it is stored.

    ``to``/``cc``/``bcc`` keep each address entry as sent (``"Name" <addr>`` or bare), one entry
    per address after comma splitting. ``recipient_variables`` is ``None`` unless the caller sent
    ``recipient-variables``; any value, even ``{}``, means batch mode.
    """

    domain: str
    sender: str
    to: list[str]
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    amp_html: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    recipient_variables: dict[str, dict[str, Any]] | None = None
    tags: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    mime: bytes | None = None
    testmode: bool = False
    deliver_at: float | None = None
    tracking_opens: bool = False
    tracking_clicks: bool | Literal["htmlonly"] = False

    @property
    def batch_mode(self) -> bool:
        return self.recipient_variables is not None

    @property
    def email_id(self) -> str | None:
        """Ghost's ``v:email-id``: the key that makes a re-POST idempotent."""
        return self.variables.get("email-id") or None

    def header(self, name: str) -> str | None:
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None


# ---------------------------------------------------------------------------------------------
# Storage records: batches and the per-recipient ledger.


class RecipientStatus(str, enum.Enum):
    """Where a ledger row stands. ``sent``, ``delivered``, ``failed`` and ``suppressed`` are terminal."""

    QUEUED = "queued"  # waiting to be claimed
    RETRY = "retry"  # a temporary failure; claimable again at ``next_attempt_at``
    SENDING = "sending"  # claimed under a lease; in doubt once the lease has expired
    SENT = "sent"  # handed to a provider that reports the outcome through an event source
    DELIVERED = "delivered"  # the delivery backend knows it was delivered (outbox, test mode)
    FAILED = "failed"  # permanent failure
    SUPPRESSED = "suppressed"  # dropped because the address is on a suppression list

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        RecipientStatus.SENT,
        RecipientStatus.DELIVERED,
        RecipientStatus.FAILED,
        RecipientStatus.SUPPRESSED,
    }
)


@dataclass(slots=True)
class NewBatch:
    """A batch to store. ``content`` is the :class:`Message` serialised once for all recipients."""

    domain: str
    message_id: str  # bare Mailgun id of the call, e.g. ``20251121050000.0123456789abcdef@mg.example.com``
    response_id: str  # the ``id`` answered to the client (``<…>`` or the verbatim ``h:Message-Id``)
    email_id: str | None
    idempotency_key: str | None  # same key = same batch: the original answer is returned
    tags: list[str]
    content: bytes
    testmode: bool = False
    deliver_at: float | None = None
    created_at: float = field(default_factory=time.time)


@dataclass(slots=True)
class NewRecipient:
    """One ledger row to store with its batch."""

    address: str  # bare addr-spec as the caller wrote it (events report it exactly so)
    name: str | None
    message_id: str  # bare Message-ID this recipient's mail carries
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Batch:
    """A stored batch."""

    id: int
    domain: str
    message_id: str
    response_id: str
    email_id: str | None
    tags: list[str]
    content: bytes
    testmode: bool
    deliver_at: float | None
    created_at: float
    enqueued: bool
    accepted_logged: bool
    recipient_count: int


@dataclass(slots=True)
class BatchCreated:
    """What :meth:`Storage.create_batch` did."""

    batch: Batch
    created: bool  # False: a batch with the same idempotency key already existed and is returned
    recipient_ids: tuple[int, int] | None  # first and last ledger id of the new rows, if any
    skipped: list[str] = field(default_factory=list)  # addresses already in the ledger for this email id


@dataclass(slots=True)
class Recipient:
    """A stored ledger row."""

    id: int
    batch_id: int
    domain: str
    address: str
    name: str | None
    message_id: str
    variables: dict[str, Any]
    status: RecipientStatus
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: float | None = None
    next_attempt_at: float | None = None
    provider_id: str | None = None
    error: str | None = None
    in_doubt: bool = False  # claimed again after an expired ``sending`` lease


@dataclass(slots=True)
class RecipientUpdate:
    """A change to one ledger row, applied in bulk by :meth:`Storage.update_recipients`.

    Applying an update also clears the row's lease. ``attempts`` and ``provider_id`` left
    ``None`` keep the stored values; ``next_attempt_at`` and ``error`` left ``None`` clear them.
    """

    id: int
    status: RecipientStatus
    attempts: int | None = None
    next_attempt_at: float | None = None
    provider_id: str | None = None
    error: str | None = None


# ---------------------------------------------------------------------------------------------
# Queue jobs.


@dataclass(slots=True)
class Job:
    """A unit of queued work: a batch, or a chunk of its ledger rows (``first_id``..``last_id``)."""

    batch_id: int
    first_id: int | None = None
    last_id: int | None = None
    not_before: float | None = None
    # Set by the queue on receive:
    id: str | None = None
    receipt: Any = None
    attempts: int = 0
    failures: int = 0  # failed attempts so far, counted durably by the queue (``Queue.fail``)


@dataclass(slots=True)
class DeadJob:
    """A dead-lettered job, as an operator lists, inspects and re-drives it."""

    id: str  # the queue's id of the dead letter (what ``Queue.redrive`` takes)
    job: Job
    failures: int
    reason: str
    dead_at: float | None  # None when the queue cannot tell (moved by an SQS redrive policy)


@dataclass(slots=True)
class BatchCounts:
    """Where one batch's ledger stands, as :meth:`Storage.batch_progress` reports it.

    ``counts`` maps each status with rows to its row count; ``in_doubt``: rows ``sending`` whose
    lease has expired; ``finished_since``: rows that became terminal at or after the ``since``
    asked for; ``last_finished_at``: when the latest row did (``None`` if none has).
    """

    batch_id: int
    domain: str
    email_id: str | None
    tags: list[str]
    created_at: float
    deliver_at: float | None
    counts: dict[str, int]
    in_doubt: int
    finished_since: int
    last_finished_at: float | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(n for status, n in self.counts.items() if RecipientStatus(status).terminal)


@dataclass(slots=True)
class JobSummary:
    """The local queue's jobs of one queue name, as :meth:`Storage.job_summary` reports them."""

    jobs: int  # not dead-lettered
    dead: int
    oldest_created_at: float | None  # of the jobs not dead-lettered


# ---------------------------------------------------------------------------------------------
# Delivery.


@dataclass(slots=True)
class RenderedMessage:
    """One recipient's message, rendered and ready for a delivery backend."""

    recipient_id: int
    batch_id: int
    domain: str
    envelope_from: str
    recipient: str
    message_id: str  # bare
    headers: list[tuple[str, str]]
    raw: bytes  # the RFC 5322 message
    tags: list[str] = field(default_factory=list)
    tracking_opens: bool = False
    tracking_clicks: bool | Literal["htmlonly"] = False
    #: The pieces the renderer joined ``raw`` from, when it knows them; the long ones are the
    #: same objects for every recipient of a batch, so a delivery may cache work on them (the
    #: ``ses`` delivery's base64). A ``prepare_message`` hook may change ``raw`` and leave these
    #: as they were: use them only when they join to ``raw``, and do not change them.
    parts: Sequence[bytes] = ()


@dataclass(slots=True)
class PreparedTemplate:
    """A batch's message as a ``prepare_template`` hook changed it, once for all its recipients.

    ``message`` replaces the batch's message for rendering (events keep the stored one).
    ``values``, if set, is called with the ledger rows rendered together (a chunk, in order) and
    returns one mapping per row of extra ``%recipient.KEY%`` values that only the rendering sees
    (a per-recipient token, say), so per-row work is done in one pass; name the keys after your
    plugin so they cannot meet a caller's own variables.
    """

    message: Message
    values: Callable[[Sequence[Recipient]], Sequence[Mapping[str, str]]] | None = None


DeliveryOutcome = Literal["sent", "delivered", "failed", "unknown", "unsent"]


@dataclass(slots=True)
class DeliveryResult:
    """What happened to one :class:`RenderedMessage`.

    ``sent``: the provider accepted it and will report the outcome through an event source.
    ``delivered``: the backend knows the outcome already. ``failed``: ``permanent`` says whether
    Postgate may retry. ``unknown``: the provider may or may not have taken it (a timeout, a 5xx,
    a dropped connection): the row stays ``sending`` until its lease expires, is then claimed in
    doubt and settled through :meth:`Delivery.settle` before any resend. ``unsent`` (from
    :meth:`Delivery.settle`): the provider never took the message, so it is sent again at once,
    with no event. ``followups`` names events the backend already knows will follow
    (the outbox simulator's ``complained``).
    """

    recipient_id: int
    outcome: DeliveryOutcome
    provider_id: str | None = None
    permanent: bool = False
    code: int | None = None
    enhanced_code: str | None = None
    message: str = ""
    reason: str | None = None  # Mailgun failure reason: bounce, suppress-bounce, generic, …
    followups: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Events.

EventType = Literal[
    "accepted",
    "rejected",
    "delivered",
    "failed",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
    "stored",
]


@dataclass(frozen=True, slots=True)
class ChunkReport:
    """What one chunk of a batch came to, reported through the ``chunk_sent`` hook (logs, metrics).

    ``counts`` holds recipients by the ledger status the chunk gave them (``delivered``, ``sent``,
    ``retry``, ``failed``, ``suppressed``; ``queued`` for rows put back unsent because the worker
    is stopping); ``unsettled`` those it left unchanged (answer lost or
    unknown: in doubt until settled). ``send_seconds`` has one figure per provider answer: the
    time from handing the message to the delivery backend to its answer. ``failures`` lists the
    permanent failures as ``(recipient id, reason)``. ``message_id`` is the id the batch was
    accepted with (as answered to the client). No address or body is ever part of it.
    """

    batch_id: int
    domain: str
    delivery: str
    recipients: int
    counts: dict[str, int]
    unsettled: int
    seconds: float
    send_seconds: tuple[float, ...] = ()
    failures: tuple[tuple[int, str], ...] = ()
    message_id: str = ""


@dataclass(slots=True)
class Event:
    """A Mailgun event.

    ``payload`` is the Mailgun event object without ``id`` and ``timestamp``; storage adds both
    when it stores the event (``id`` is a 22-character URL-safe string, ``timestamp`` the
    recorded time). ``key`` identifies the event at its source; a second event with the same key
    is not stored again.
    """

    domain: str
    event: str
    recipient: str | None
    message_id: str | None
    payload: dict[str, Any]
    key: str | None = None
    email_id: str | None = None
    tags: list[str] = field(default_factory=list)
    severity: str | None = None
    # Set by storage:
    id: int | None = None
    event_id: str | None = None
    recorded_at: int | None = None  # microseconds since the epoch

    def to_mailgun(self) -> dict[str, Any]:
        """The object the events API returns for this stored event."""
        body = {"id": self.event_id, "timestamp": (self.recorded_at or 0) / 1_000_000}
        body.update(self.payload)
        body["event"] = self.event
        return body


class ServedEvent(NamedTuple):
    """A stored event as the events API shows it: its JSON object (text) and its page position."""

    id: int
    recorded_at: int
    json: str


# Filter expressions for the events API, storage-neutral. ``Term(field, value)`` matches
# ``event``, ``recipient`` (case-insensitive), ``message-id``, ``severity``, ``reason``,
# ``email-id`` exactly, and ``tags`` when any tag equals the value (case-insensitive).


@dataclass(frozen=True, slots=True)
class Term:
    field: str
    value: str


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Filter


Filter = Union[Term, And, Or, Not]


@dataclass(slots=True)
class EventQuery:
    """One page request against stored events.

    Times are microseconds since the epoch; ``begin`` is inclusive and ``end`` exclusive in the
    direction of travel. ``after`` is the keyset cursor ``(recorded_at, id)`` of the last event of
    the previous page: the page starts strictly after it in the direction of travel.
    """

    domain: str
    ascending: bool
    begin: int | None = None
    end: int | None = None
    filter: Filter | None = None
    limit: int = 100
    after: tuple[int, int] | None = None
    #: Every event committed now, for the gateway's own look-ups (counting bounces, say): none
    #: held back and no second closed. Never for a client that moves on past what it was shown.
    live: bool = False


# ---------------------------------------------------------------------------------------------
# Suppressions.

SuppressionList = Literal["bounces", "complaints", "unsubscribes", "whitelists"]
SUPPRESSION_LISTS: tuple[str, ...] = ("bounces", "complaints", "unsubscribes", "whitelists")


@dataclass(slots=True)
class Suppression:
    """One entry of a suppression list.

    ``address`` is the key: an email address, or for ``whitelists`` of ``kind == "domain"`` a
    domain. ``tags`` is used by ``unsubscribes`` (``["*"]`` means every tag).
    """

    domain: str
    list: str
    address: str
    code: int | None = None
    error: str = ""
    tags: list[str] = field(default_factory=list)
    kind: str = "address"  # whitelists: "address" or "domain"
    reason: str = ""  # whitelists
    created_at: float = field(default_factory=time.time)


@dataclass(slots=True)
class SuppressionChange:
    """One change the API made to a suppression list (the ``suppressions_changed`` hook).

    ``action`` is ``add``, ``import`` (a CSV import), ``delete``, ``untag`` (one tag taken off
    an unsubscribe, named in ``detail``) or ``clear`` (the whole list; ``address`` is ``None``).
    ``api_key`` is the caller's key masked to its first 8 characters; ``request_id`` is the
    request's ``X-Request-Id``.
    """

    action: str
    domain: str
    list: str
    address: str | None
    api_key: str
    request_id: str
    at: float = field(default_factory=time.time)
    detail: str = ""


@dataclass(slots=True)
class TagInfo:
    """A tag seen on accepted mail."""

    domain: str
    tag: str
    description: str
    first_seen: float
    last_seen: float


@dataclass(slots=True)
class EventCount:
    """Number of events of one type (and failure reason/severity) in one time bucket."""

    bucket: int  # start of the bucket, epoch seconds
    event: str
    severity: str | None
    reason: str | None
    count: int
