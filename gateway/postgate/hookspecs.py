"""Every hook Postgate calls, typed and documented. See ``docs/plugin_hooks.md``.

Implementations are marked with ``@postgate.hookimpl`` and may accept any subset of the
documented arguments. "May be async" means the implementation may return its value or an
awaitable of it; Postgate awaits it. Built-in implementations are ``trylast`` so an installed
plugin always runs first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from quart import Blueprint

    from .app import Gateway
    from .domain import Batch, ChunkReport, Event, Message, PreparedTemplate, RenderedMessage, SuppressionChange
    from .health import HealthCheck
    from .inbound import InboundMail
    from .operations import DomainCheck

hookspec = pluggy.HookspecMarker("postgate")
hookimpl = pluggy.HookimplMarker("postgate")

Register = Callable[..., None]


# -- ingress ----------------------------------------------------------------------------------


@hookspec
def register_ingress(register: Register) -> None:
    """Register entry doors: ``register(name, factory)``, ``factory(gateway)`` returning a
    Quart blueprint or an object with async ``start()``/``stop()`` (started by the process that
    serves HTTP once the gateway has started, stopped before it stops; never by ``postgate
    worker``). Entry doors hand messages to ``await gateway.accept(message)``."""


@hookspec(firstresult=True)
def check_api_key(gateway: Gateway, domain: str, api_key: str) -> bool | None:
    """Decide whether ``api_key`` may use ``domain``; return ``None`` to abstain.

    Sync. Stops at the first non-``None`` result; the built-in check against the configured keys
    runs last.
    """


@hookspec
def validate_message(gateway: Gateway, message: Message) -> list[str] | str | None:
    """Extra checks on a message before it is stored. May be async.

    Return error texts (or one); any error answers 400 ``{"message": …}`` and stores nothing.
    """


@hookspec
def message_accepted(gateway: Gateway, message: Message, message_id: str) -> None:
    """Called after a message is durably queued. May be async. Errors are logged, never
    returned to the client."""


@hookspec
def claims_recipient(gateway: Gateway, address: str) -> bool | None:
    """Whether the plugin will read mail sent to ``address`` at one of the receive domains (the
    SMTP listener's ``receive_domains``): ``True`` claims it, ``None`` abstains. May be async;
    called at RCPT time for mail without AUTH, so answer from memory or one cheap read. An address
    nobody claims is refused (``550 5.1.1``)."""


@hookspec
def mail_received(gateway: Gateway, mail: InboundMail) -> None:
    """A message received for addresses some plugin claimed. Fan-out, may be async; each plugin
    handles the recipients it claims and ignores the rest. The sender is answered once every
    implementation has returned: store before returning, be idempotent (a sender that got no
    answer sends again), and raise only to have the sender retry later (``451``)."""


# -- backends ---------------------------------------------------------------------------------


@hookspec
def register_queues(register: Register) -> None:
    """Register queue backends: ``register(name, factory)``; ``factory(gateway) -> Queue``."""


@hookspec
def register_deliveries(register: Register) -> None:
    """Register delivery backends: ``register(name, factory)``; ``factory(gateway) -> Delivery``."""


@hookspec
def register_event_sources(register: Register) -> None:
    """Register provider event sources: ``register(name, factory)``;
    ``factory(gateway) -> EventSource``."""


@hookspec
def register_storages(register: Register) -> None:
    """Register storages: ``register(name, factory)``; ``factory(gateway) -> Storage``."""


@hookspec
def register_models(register: Register) -> None:
    """Declare tables a plugin owns: ``register(app_label, models_module, migrations)`` with a
    tortoise models module (dotted name) and the package (dotted name or folder) holding its
    aerich histories as ``<dialect>/<app_label>/`` (``sqlite`` and ``mysql``). A tortoise-based
    storage hosts them in its database; ``postgate migrate`` applies them; the plugin queries them
    inside ``with gateway.storage.orm():``. Sync."""


# -- delivery and events ----------------------------------------------------------------------


@hookspec
def prepare_template(gateway: Gateway, batch: Batch, message: Message) -> PreparedTemplate | None:
    """Adjust a batch's message once, before its recipients are rendered. May be async.

    Return a :class:`~postgate.domain.PreparedTemplate` (a changed message and, optionally, a
    function giving each recipient extra ``%recipient.KEY%`` values), or ``None`` to keep it.
    Implementations run in turn, each seeing the previous one's message. Runs once per job of a
    batch (again on a retry), so anything it stores must be idempotent.
    """


@hookspec
def prepare_message(gateway: Gateway, rendered: RenderedMessage) -> RenderedMessage | None:
    """Adjust one recipient's rendered message before delivery. May be async.

    Return a replacement, or ``None`` to keep it. Implementations run in turn, each seeing the
    previous one's result.
    """


@hookspec
def events_recorded(gateway: Gateway, events: list[Event]) -> None:
    """Called after events are committed to storage (only newly stored ones). May be async.

    The built-in suppression rules run here; so would metrics or webhooks.
    """


@hookspec
def chunk_sent(gateway: Gateway, report: ChunkReport) -> None:
    """Called after a worker wrote the outcomes of one chunk of a batch. Sync and cheap: it runs
    on the send path. Operational logs and metrics are built on it. Errors are logged."""


@hookspec
def worker_heartbeat(gateway: Gateway, worker: str, started_at: float, stopping: bool) -> None:
    """A worker loop is alive: called when it starts, about every ``Worker.heartbeat_seconds``
    while it runs (busy or idle), and once with ``stopping`` true when it stops cleanly.
    ``worker`` is the loop's owner id (``name@host:pid:token``), ``started_at`` when the loop
    started (epoch seconds). Sync and cheap: it runs in the worker loop. Errors are logged."""


@hookspec
def delivery_state_changed(gateway: Gateway, delivery: str, state: str, reason: str,
                           seconds: float | None) -> None:
    """A delivery backend reports a change in what it may send: ``state`` is ``throttled`` (the
    provider asked to slow down; ``seconds`` is unused), ``paused`` (sending stops for ``seconds``:
    daily quota, sending paused, account suspended) or ``resumed``. Sync and cheap. Delivery
    plugins call it through ``gateway.report_delivery_state(...)``."""


@hookspec
def suppressions_changed(gateway: Gateway, changes: list[SuppressionChange]) -> None:
    """Called after the API changed the suppression lists (add, delete, import, clear), once the
    change is committed. May be async. Errors are logged, never returned to the client."""


# -- configuration, web, cli ------------------------------------------------------------------


@hookspec
def register_settings(register: Register) -> None:
    """Declare a plugin's settings: ``register(plugin_name, Model)`` with a pydantic model that
    validates the ``[plugins.<plugin_name>]`` table; read it with
    ``gateway.plugin_settings(plugin_name)``."""


@hookspec
def check_config(gateway: Gateway) -> list[str] | str | None:
    """Problems in a plugin's configuration that its settings model cannot see (a signing key in
    an environment variable, say), found without starting anything: return texts (or one), each
    what start-up would fail with. Sync. ``postgate check-config`` reports them as configuration
    errors; the plugin still makes the same check as it starts."""


@hookspec
def register_routes(gateway: Gateway) -> list[Blueprint] | None:
    """Return Quart blueprints to mount (dashboard, SNS endpoint, metrics).

    Sync. A blueprint claiming a Mailgun API path (``/v1/`` to ``/v5/``) is refused at startup;
    those go through :func:`register_api_routes`.
    """


@hookspec
def register_api_routes(gateway: Gateway) -> list[Blueprint] | None:
    """Return Quart blueprints that extend the Mailgun API (paths under ``/v1/`` to ``/v5/``).

    Sync. Every request to them is authenticated like Postgate's own API (HTTP Basic ``api:<key>``;
    ``postgate.web.request_domain()`` and ``allowed_domains()`` tell the view who asked), and
    ``postgate.errors.ApiError`` answers in Mailgun's error shape. A rule that repeats one of the
    built-in API's rules for the same method is refused at startup: the built-in surface cannot be
    overridden, only extended.
    """


@hookspec
def wrap_asgi(gateway: Gateway, app: Callable[..., Any]) -> Callable[..., Any] | None:
    """Return an ASGI callable that answers some HTTP requests itself, before Quart's routing, and
    hands every other request (and every non-HTTP scope) to ``app``; or ``None``. Sync.

    For a hot path only (a tracking pixel): the wrapper sits inside the access log (each request
    still gets its request id and access line) and behind Hypercorn's limits, but Quart's
    before/after-request handlers, error handlers and body limits do not run for what it answers.
    Wrappers chain in hook order: each gets the app the previous one returned.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``postgate`` command line. Sync."""


# -- lifecycle and operations -----------------------------------------------------------------


@hookspec
def startup(gateway: Gateway) -> None:
    """Called once the backends have started, before serving. May be async."""


@hookspec
def background_started(gateway: Gateway, serving: bool) -> None:
    """Called when this process starts background work (``postgate serve`` with workers,
    ``postgate worker``); ``serving`` tells whether it also serves HTTP. Sync."""


@hookspec
def shutdown(gateway: Gateway) -> None:
    """Called on the way down, before the backends stop. May be async."""


@hookspec
def health_checks(gateway: Gateway) -> list[HealthCheck] | None:
    """Return readiness checks: ``HealthCheck(name, probe)`` where ``probe`` is an async callable
    that raises when unhealthy. Used by ``/health/ready``. Sync."""




@hookspec
def domain_tracking(gateway: Gateway, domain: str) -> dict[str, Any] | None:
    """The ``tracking`` object ``GET /v3/domains/<domain>/tracking`` answers: ``open``, ``click``
    and ``unsubscribe`` in Mailgun's shape, saying what the plugin that tracks will really do for
    the domain's messages that set no ``o:tracking*`` option. ``None``: the plugin does not track
    that domain. May be async; the first answer that is not ``None`` wins, and without one the
    built-in answer is "everything off"."""


@hookspec
def domain_checks(gateway: Gateway, domain: str) -> list[DomainCheck] | None:
    """Check a sending domain's set-up as the provider sees it (identity, DKIM, SPF through the
    MAIL FROM domain, DMARC): return :class:`~postgate.DomainCheck` results, or ``None`` when the
    plugin has nothing to say about ``domain``. May be async; never block the event loop (run
    provider or DNS calls with ``asyncio.to_thread``) and cache the answer, since a dashboard
    page view calls it."""
