"""The :class:`Gateway`: settings, plugins, backends and the one path every message takes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from .backends import Delivery, EventSource, Queue, Storage
from .batching import build_batch
from .domain import Batch, ChunkReport, Event, Job, Message, SuppressionChange
from .errors import BadRequest
from .health import HealthCheck, run_checks
from .model_apps import ModelApp, model_app
from .operations import OperationsSnapshot, take_snapshot
from .plugins import build_plugin_manager, call_all, resolve
from .registry import Registry
from .settings import ConfigError, Settings, describe_validation_error

log = logging.getLogger("postgate")

#: Seconds after which a stored batch whose job was never confirmed is queued again, by a
#: re-POST of it or by housekeeping (a crash or a queue outage between commit and put).
REQUEUE_AFTER = 30.0


class Gateway:
    """One Postgate instance. Built by :func:`create_gateway`; never a module global.

    Construction loads plugins and validates every setting and backend name, so configuration
    errors surface before anything starts. :meth:`start` builds and opens the backends.
    """

    def __init__(self, settings: Settings, *, plugins: Iterable[object] = (),
                 load_entrypoints: bool = True) -> None:
        self.settings = settings
        self.pm = build_plugin_manager(
            settings.load_plugins, settings.disable_plugins, plugins, load_entrypoints
        )
        self.queues: Registry[Any] = Registry("queue backend")
        self.deliveries: Registry[Any] = Registry("delivery backend")
        self.storages: Registry[Any] = Registry("storage backend")
        self.event_source_factories: Registry[Any] = Registry("event source")
        self.ingress: Registry[Any] = Registry("ingress")
        self.settings_models: Registry[type[BaseModel]] = Registry("settings table")
        hook = self.pm.hook
        hook.register_queues(register=self.queues.register)
        hook.register_deliveries(register=self.deliveries.register)
        hook.register_storages(register=self.storages.register)
        hook.register_event_sources(register=self.event_source_factories.register)
        hook.register_ingress(register=self.ingress.register)
        hook.register_settings(register=self.settings_models.register)
        self.model_apps: Registry[ModelApp] = Registry("model app")
        hook.register_models(register=self._register_model_app)
        self._plugin_settings = self._validate_plugin_settings()
        backends = settings.backends
        self.queues.get(backends.queue)
        self.deliveries.get(backends.delivery)
        self.storages.get(backends.storage)
        for name in backends.event_sources:
            self.event_source_factories.get(name)
        self.storage: Storage = None  # type: ignore[assignment]  # set by start()
        self.queue: Queue = None  # type: ignore[assignment]
        self.delivery: Delivery = None  # type: ignore[assignment]
        self.event_sources: list[EventSource] = []
        self.started = False
        #: Whether ``start_background`` ran in this process (workers, event sources, housekeeping).
        self.runs_background = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._source_tasks: list[asyncio.Task[Any]] = []
        self._stopping = asyncio.Event()

    # -- settings ---------------------------------------------------------------------------

    def _validate_plugin_settings(self) -> dict[str, BaseModel]:
        tables = self.settings.plugins
        unknown = sorted(set(tables) - set(self.settings_models.names()))
        if unknown:
            raise ConfigError(
                f"unknown settings table [plugins.{unknown[0]}]: no loaded plugin declares settings "
                f"named {unknown[0]!r} (known: {', '.join(self.settings_models.names()) or 'none'})"
            )
        validated = {}
        for name, model in self.settings_models.entries.items():
            try:
                validated[name] = model.model_validate(tables.get(name, {}))
            except ValidationError as exc:
                text = describe_validation_error(exc).replace("invalid configuration:", "")
                raise ConfigError(f"invalid settings in [plugins.{name}]:{text}") from None
        return validated

    def config_problems(self) -> list[str]:
        """What the plugins' ``check_config`` hooks find wrong with their configuration (what
        start-up would fail with), without starting anything."""
        problems: list[str] = []
        for found in self.pm.hook.check_config(gateway=self):
            if found:
                problems.extend([found] if isinstance(found, str) else found)
        return problems

    def _register_model_app(self, app_label: str, models_module: str, migrations: Any) -> None:
        self.model_apps.register(app_label, model_app(app_label, models_module, migrations))

    def plugin_settings(self, name: str) -> Any:
        """The validated settings model of plugin ``name`` (its ``[plugins.NAME]`` table)."""
        try:
            return self._plugin_settings[name]
        except KeyError:
            raise ConfigError(f"no plugin declares settings named {name!r}") from None

    # -- domains and keys -------------------------------------------------------------------

    @property
    def domains(self) -> dict[str, str | None]:
        """Configured sending domains (lower case) with their API keys."""
        return self.settings.domain_keys()

    def check_api_key(self, domain: str, api_key: str) -> bool:
        """Whether ``api_key`` may use ``domain`` (the ``check_api_key`` hook decides)."""
        return bool(self.pm.hook.check_api_key(gateway=self, domain=domain, api_key=api_key))

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the configured backends, open them, migrate storage, run ``startup`` hooks."""
        if self.started:
            return
        names = self.settings.backends
        self.storage = self.storages.get(names.storage)(self)
        self._check_model_apps_hosted()
        self.queue = self.queues.get(names.queue)(self)
        self.delivery = self.deliveries.get(names.delivery)(self)
        self.event_sources = [self.event_source_factories.get(n)(self) for n in names.event_sources]
        opened: list[Any] = []
        try:
            await self.storage.start()
            opened.append(self.storage)
            if self.settings.gateway.migrate_on_start:
                await self.storage.migrate()
            for backend in [self.queue, self.delivery, *self.event_sources]:
                await backend.start()
                opened.append(backend)
            await call_all(self.pm.hook.startup, gateway=self)
        except BaseException:
            for backend in reversed(opened):  # close what did open, then report the failure
                try:
                    await backend.stop()
                except Exception:  # noqa: BLE001
                    log.exception("error while stopping %s", type(backend).__name__)
            raise
        self.started = True

    def _check_model_apps_hosted(self) -> None:
        """Plugins that own tables need a storage that hosts tortoise apps."""
        from .storage.tortoise_storage import TortoiseStorage

        labels = self.model_apps.names()
        if labels and not isinstance(self.storage, TortoiseStorage):
            raise ConfigError(
                f"the plugin app(s) {', '.join(labels)} keep their own tables (register_models) and need "
                f"a tortoise-based storage such as sqlite or mysql; the configured storage "
                f"{self.settings.backends.storage!r} is not one: change [backends] storage or unload the plugin"
            )

    async def stop(self) -> None:
        """Stop background work, run ``shutdown`` hooks, close the backends."""
        await self.stop_background()
        if not self.started:
            return
        self.started = False
        await call_all(self.pm.hook.shutdown, gateway=self)
        for backend in [*reversed(self.event_sources), self.delivery, self.queue, self.storage]:
            try:
                await backend.stop()
            except Exception:  # noqa: BLE001 - keep closing the others
                log.exception("error while stopping %s", type(backend).__name__)

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- background work --------------------------------------------------------------------

    def start_background(self, workers: int | None = None, *, serving: bool = False) -> None:
        """Start worker loops, event sources and housekeeping as tasks of the running loop, then
        run the ``background_started`` hooks (``serving``: this process also serves HTTP)."""
        from .housekeeping import housekeeping_loop
        from .worker import Worker

        self._stopping.clear()
        count = self.settings.gateway.workers if workers is None else workers
        for index in range(count):
            worker = Worker(self, name=f"worker-{index}")
            self._tasks.append(asyncio.create_task(worker.run(self._stopping), name=worker.name))
        for source in self.event_sources:
            self._source_tasks.append(asyncio.create_task(self._run_source(source)))
        if count:
            self._tasks.append(asyncio.create_task(housekeeping_loop(self, self._stopping)))
        self.runs_background = True
        self.pm.hook.background_started(gateway=self, serving=serving)

    async def _run_source(self, source: EventSource) -> None:
        while not self._stopping.is_set():
            try:
                await source.run(self.record_events)
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a source must not die silently
                log.exception("event source %s failed; restarting in 5 s", type(source).__name__)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 5)

    async def stop_background(self, timeout: float = 10.0) -> None:
        """Stop workers (they finish or release their jobs within ``timeout``) and cancel event
        sources at once (they acknowledge provider messages only after storing them)."""
        self._stopping.set()
        self.runs_background = False
        sources, self._source_tasks = self._source_tasks, []
        for task in sources:
            task.cancel()
        await asyncio.gather(*sources, return_exceptions=True)
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the pipeline -----------------------------------------------------------------------

    async def accept(self, message: Message) -> str:
        """Validate, store and queue a message durably; return the id to answer the client.

        The one path every entry door uses. Raises :class:`~postgate.errors.ApiError` for
        bad input; nothing is stored then. A re-POST of a batch already accepted returns the
        original id and queues nothing new.
        """
        errors = await call_all(self.pm.hook.validate_message, gateway=self, message=message)
        if errors:
            raise BadRequest(str(errors[0]))
        batch, recipients = build_batch(message)
        created = await self.storage.create_batch(batch, recipients)
        stored = created.batch
        if created.created and stored.tags:
            await self.storage.touch_tags(stored.domain, stored.tags, stored.created_at)
        if created.created or (not stored.enqueued and time.time() - stored.created_at > REQUEUE_AFTER):
            # A re-POST queues a batch again only when its first job evidently never made it
            # (the queue failed during the first call); housekeeping does the same on its own.
            try:
                await self.enqueue(stored, created.recipient_ids[0] if created.recipient_ids else None)
            except Exception:  # noqa: BLE001 - the batch is stored: it is accepted
                # Answering an error here would make the client POST again, and a client that
                # sends no ``v:email-id`` would get a second batch. The stored batch is queued
                # by housekeeping (or a re-POST) once it is REQUEUE_AFTER seconds old.
                log.exception("batch %s is stored but the queue refused its jobs; it is queued again "
                              "within %.0f s by housekeeping", stored.id, REQUEUE_AFTER)
        if created.created:
            for result in self.pm.hook.message_accepted(gateway=self, message=message,
                                                        message_id=stored.response_id):
                try:
                    await resolve(result)
                except Exception:  # noqa: BLE001 - notifications never fail a send
                    log.exception("message_accepted listener failed")
        return stored.response_id

    async def enqueue(self, batch: Batch, first_id: int | None = None) -> None:
        """Queue the jobs of a stored batch, then mark the batch as queued.

        The jobs are visible at once even for a scheduled batch: the worker records the
        ``accepted`` events right away (as Mailgun does) and holds delivery until ``deliver_at``.
        ``first_id`` is the batch's lowest ledger id, looked up when needed and not given.
        """
        size = self.settings.gateway.job_size
        if size and first_id is None and batch.recipient_count > size:
            rows = await self.storage.list_recipients(batch.id, 0, 1)
            first_id = rows[0].id if rows else None
        await self.queue.put(self.jobs_for(batch.id, first_id, batch.recipient_count))
        await self.storage.mark_batch(batch.id, enqueued=True)

    def jobs_for(self, batch_id: int, first_id: int | None, count: int) -> list[Job]:
        """One job per batch, or one per ``gateway.job_size`` ledger ids from ``first_id``.

        The last job is open-ended, so it covers every later row of the batch even where
        ledger ids are not contiguous (concurrent inserts on MySQL).
        """
        size = self.settings.gateway.job_size
        if not size or first_id is None or count <= size:
            return [Job(batch_id=batch_id)]
        jobs = [Job(batch_id=batch_id, first_id=start, last_id=start + size - 1)
                for start in range(first_id, first_id + count, size)]
        jobs[-1].last_id = None
        return jobs

    async def record_events(self, events: Sequence[Event]) -> list[Event]:
        """Store events (duplicates by key are dropped) and notify ``events_recorded`` listeners."""
        if not events:
            return []
        stored = await self.storage.save_events(list(events))
        if stored:
            for result in self.pm.hook.events_recorded(gateway=self, events=stored):
                try:
                    await resolve(result)
                except Exception:  # noqa: BLE001 - a listener must not lose the events
                    log.exception("events_recorded listener failed")
        return stored

    async def report_suppression_changes(self, changes: Sequence[SuppressionChange]) -> None:
        """Tell ``suppressions_changed`` listeners what the API just changed (after commit)."""
        if not changes:
            return
        args = {"gateway": self, "changes": list(changes)}
        for impl in reversed(self.pm.hook.suppressions_changed.get_hookimpls()):  # pluggy's order
            try:
                await resolve(impl.function(*[args[name] for name in impl.argnames]))
            except Exception:  # noqa: BLE001 - the change is committed; a listener cannot undo it
                log.exception("suppressions_changed listener %s failed", impl.plugin_name)

    # -- observation ------------------------------------------------------------------------

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of a sync observation hook; one that fails is logged and
        the others still run (an observer never breaks the send path)."""
        hook = getattr(self.pm.hook, hook_name)
        for impl in reversed(hook.get_hookimpls()):  # pluggy's own calling order
            try:
                impl.function(*[kwargs[name] for name in impl.argnames])
            except Exception:  # noqa: BLE001 - observers must not break sending
                log.exception("%s listener %s failed", hook_name, impl.plugin_name)

    def report_chunk(self, report: ChunkReport) -> None:
        """Tell ``chunk_sent`` listeners what a chunk came to."""
        self.notify("chunk_sent", gateway=self, report=report)

    def report_delivery_state(self, state: str, reason: str, seconds: float | None = None) -> None:
        """For delivery backends: tell ``delivery_state_changed`` listeners that sending was
        ``throttled``, ``paused`` (for ``seconds``) or ``resumed``."""
        self.notify("delivery_state_changed", gateway=self, delivery=self.settings.backends.delivery,
                    state=state, reason=reason, seconds=seconds)

    # -- operations -------------------------------------------------------------------------

    def health_checks(self) -> list[HealthCheck]:
        checks = [
            HealthCheck("storage", self.storage.check),
            HealthCheck("queue", self.queue.check),
            HealthCheck("delivery", self.delivery.check),
        ]
        for found in self.pm.hook.health_checks(gateway=self):
            if found:
                checks.extend(found)
        return checks

    async def operations_snapshot(self) -> OperationsSnapshot:
        """Queue depth, batches in flight, rows in doubt and quota now (see :mod:`postgate.operations`)."""
        return await take_snapshot(self)

    async def readiness(self) -> dict[str, str]:
        if not self.started:
            return {"gateway": "not started"}
        return await run_checks(self.health_checks())

    def now(self) -> float:
        return time.time()


def create_gateway(settings: Settings | None = None, *, plugins: Iterable[object] = (),
                   load_entrypoints: bool = True, **overrides: Any) -> Gateway:
    """Build a gateway from settings (or from the config file and environment)."""
    from .settings import load_settings

    if settings is None:
        settings = load_settings(**overrides)
    elif overrides:
        settings = settings.model_copy(update=overrides)
    return Gateway(settings, plugins=plugins, load_entrypoints=load_entrypoints)
