"""Built-in plugin: the ``routes`` delivery backend, which sends through other deliveries by rule.

``[backends] delivery = "routes"`` and ``[plugins.routes]`` name a ``default`` delivery and a list
of ``rules``; the first rule whose ``match`` fits a message (its sending ``domain``, one of its
``tag``\\ s; a field left out matches anything) decides, else ``default`` sends it. A rule's
``split`` shares its messages between deliveries by weight, ``{ses = 5, mailgun = 95}``: the
recipient's place is a stable hash of the batch id and the address (:func:`share_point`), so the
same recipient of a batch always takes the same route, on every worker, retry and process.
Routes take the split's ranges in the order written, so growing the first entry's weight only
adds recipients to it: 5 → 50 → 100 moves a newsletter over, and writing the old line back rolls
it back (see ``docs/routing.md``).

Each delivery named in the table is built once and started with this backend. A call's messages
are grouped by route and each group goes to its delivery's ``send_each`` at once; a delivery
with a ``max_rate`` is held to it through the shared send window under its own bucket
``delivery:<name>`` (the bucket it has when configured alone), so each route keeps its own rate
across every worker and process. ``settle`` asks the delivery the rule names for each row in
doubt; the route is computed again from the row, so change rules only while no row is in doubt
(``postgate status``), or keep the old route's delivery listed until they are settled.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..backends import Delivery, OutcomeSink
from ..domain import DeliveryResult, Recipient, RenderedMessage
from ..hookspecs import hookimpl
from ..operations import RouteStatus
from ..settings import ConfigError

log = logging.getLogger("postgate.routes")

NAME = "routes"
#: Resolution of the stable share (points per whole).
POINTS = 1 << 32


class RouteMatch(BaseModel):
    """What a rule applies to; a field left out matches every message."""

    model_config = ConfigDict(extra="forbid")

    domain: str | None = Field(None, description="sending domain the rule applies to")
    tag: str | None = Field(None, description="tag (o:tag) the message must carry")

    def fits(self, domain: str, tags: Sequence[str]) -> bool:
        if self.domain is not None and self.domain.lower() != domain.lower():
            return False
        return self.tag is None or self.tag.lower() in {tag.lower() for tag in tags}


class RouteRule(BaseModel):
    """``{ match = {domain = …, tag = …}, split = {ses = 5, mailgun = 95} }``."""

    model_config = ConfigDict(extra="forbid")

    match: RouteMatch = Field(default_factory=RouteMatch, description="domain and/or tag this rule takes")
    split: dict[str, int] = Field(description="delivery name -> weight; ranges in the order written")

    @field_validator("split")
    @classmethod
    def _weights(cls, split: dict[str, int]) -> dict[str, int]:
        if not split or any(weight < 0 for weight in split.values()) or sum(split.values()) <= 0:
            raise ValueError("split needs at least one delivery and non-negative weights with a positive sum")
        return split


class RoutesSettings(BaseModel):
    """``[plugins.routes]``."""

    model_config = ConfigDict(extra="forbid")

    default: str = Field("outbox", description="delivery for messages no rule takes")
    rules: list[RouteRule] = Field(default_factory=list, description="tried in order; the first that matches decides")


def share_point(batch_id: int, address: str) -> float:
    """The recipient's stable place in ``[0, 1)`` within a batch (sha256 of batch id and address)."""
    digest = hashlib.sha256(f"{batch_id}\x00{address.strip().lower()}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / POINTS


def pick(split: dict[str, int], point: float) -> str:
    """The delivery whose range of ``split`` (in the order written) holds ``point``."""
    total = sum(split.values())
    edge = 0.0
    chosen = next(iter(split))
    for name, weight in split.items():
        if weight <= 0:
            continue
        chosen = name
        edge += weight / total
        if point < edge:
            return name
    return chosen


def choose(settings: RoutesSettings, domain: str, tags: Sequence[str], batch_id: int, address: str) -> str:
    """The delivery name for one recipient."""
    for rule in settings.rules:
        if rule.match.fits(domain, tags):
            return pick(rule.split, share_point(batch_id, address))
    return settings.default


def match_text(match: RouteMatch) -> str:
    parts = [f"{field} {value}" for field, value in (("domain", match.domain), ("tag", match.tag)) if value]
    return ", ".join(parts) or "everything"


def route_shares(settings: RoutesSettings, name: str) -> list[str]:
    """What the route ``name`` takes: ``default`` and ``rule <n> (<match>): <percent>%`` per rule."""
    shares = ["default"] if settings.default == name else []
    for number, rule in enumerate(settings.rules, start=1):
        weight = rule.split.get(name, 0)
        if weight > 0:
            shares.append(f"rule {number} ({match_text(rule.match)}): {weight * 100 / sum(rule.split.values()):.3g}%")
    return shares


def route_names(settings: RoutesSettings) -> list[str]:
    names = [settings.default]
    for rule in settings.rules:
        names += [name for name in rule.split if name not in names]
    return names


class Routes(Delivery):
    """Composes the deliveries its rules name (see the module documentation)."""

    name = NAME

    def __init__(self, gateway: Any) -> None:
        super().__init__(gateway)
        self.settings: RoutesSettings = gateway.plugin_settings(NAME)
        names = route_names(self.settings)
        for name in names:
            if name == NAME:
                raise ConfigError("[plugins.routes] cannot route to 'routes' itself")
            if name not in gateway.deliveries:
                raise ConfigError(f"[plugins.routes] names the delivery {name!r}, which no loaded plugin "
                                  f"provides (known: {', '.join(gateway.deliveries.names())})")
        self.routes: dict[str, Delivery] = {name: gateway.deliveries.get(name)(gateway) for name in names}
        self.concurrency = max(route.concurrency for route in self.routes.values())
        self.max_rate = None  # each route keeps its own (see _send_route)
        self.resend_in_doubt = all(route.resend_in_doubt for route in self.routes.values())

    async def start(self) -> None:
        for route in self.routes.values():
            await route.start()

    async def stop(self) -> None:
        for route in reversed(list(self.routes.values())):
            try:
                await route.stop()
            except Exception:  # noqa: BLE001 - keep closing the others
                log.exception("error while stopping the %s route", route.name or type(route).__name__)

    async def check(self) -> None:
        for name, route in self.routes.items():
            try:
                await route.check()
            except Exception as exc:
                raise RuntimeError(f"route {name}: {exc}") from exc

    def route_of(self, message: RenderedMessage) -> str:
        return choose(self.settings, message.domain, message.tags, message.batch_id, message.recipient)

    def _groups(self, messages: Sequence[RenderedMessage]) -> dict[str, list[RenderedMessage]]:
        groups: dict[str, list[RenderedMessage]] = {}
        for message in messages:
            groups.setdefault(self.route_of(message), []).append(message)
        return groups

    # -- sending ------------------------------------------------------------------------------

    async def send(self, messages: Sequence[RenderedMessage]) -> list[DeliveryResult]:
        groups = self._groups(messages)
        answers = await asyncio.gather(*(self.routes[name].send(group) for name, group in groups.items()))
        by_id = {result.recipient_id: result for results in answers for result in results}
        return [by_id[message.recipient_id] for message in messages]

    async def send_each(self, messages: Sequence[RenderedMessage], sink: OutcomeSink) -> None:
        groups = self._groups(messages)
        done = await asyncio.gather(*(self._send_route(name, group, sink) for name, group in groups.items()),
                                    return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _send_route(self, name: str, messages: list[RenderedMessage], sink: OutcomeSink) -> None:
        """Hand one route's messages to its delivery, within that delivery's own rate."""
        route = self.routes[name]
        rate = route.max_rate
        if not rate:
            await route.send_each(messages, sink)
            return
        step = max(1, int(rate))
        for start in range(0, len(messages), step):
            part = messages[start:start + step]
            grant = await self._grant(name, len(part), rate)
            try:
                await route.send_each(part, sink)
            finally:
                await self.gateway.storage.release_sends(grant, time.time())

    async def _grant(self, name: str, count: int, rate: float) -> int:
        from ..send_allowance import GRANT_LEASE_SECONDS, send_window

        budget, window = send_window(rate)
        while True:
            wait, grant = await self.gateway.storage.grant_sends(f"delivery:{name}", count, budget, window,
                                                                 time.time(), GRANT_LEASE_SECONDS)
            if grant is not None:
                return grant
            await asyncio.sleep(wait)

    # -- in doubt -----------------------------------------------------------------------------

    async def settle(self, recipients: Sequence[Recipient]) -> dict[int, DeliveryResult]:
        """Ask the delivery each row's rule names (computed again from the row and its batch)."""
        tags: dict[int, list[str]] = {}
        for batch_id in sorted({row.batch_id for row in recipients}):
            batch = await self.gateway.storage.get_batch(batch_id)
            tags[batch_id] = list(batch.tags) if batch is not None else []
        groups: dict[str, list[Recipient]] = {}
        for row in recipients:
            name = choose(self.settings, row.domain, tags[row.batch_id], row.batch_id, row.address)
            groups.setdefault(name, []).append(row)
        settled: dict[int, DeliveryResult] = {}
        for name, rows in groups.items():
            route = self.routes[name]
            answers = await route.settle(rows)
            settled.update(answers)
            if route.resend_in_doubt and not self.resend_in_doubt:
                for row in rows:  # this route may send its unsettled rows again
                    settled.setdefault(row.id, DeliveryResult(row.id, "unsent", message=f"route {name} resends in doubt"))
        return settled

    def components(self) -> list[Delivery]:
        return [part for route in self.routes.values() for part in route.components()]

    async def quota(self) -> Any:
        return await self.routes[self.settings.default].quota()

    async def route_statuses(self) -> list[RouteStatus]:
        """Each route's share, rate, quota and the sends its bucket counts now (``postgate status``)."""
        from ..send_allowance import GRANT_LEASE_SECONDS, send_window

        now = time.time()

        async def one(name: str, route: Delivery) -> RouteStatus:
            try:
                quota = await route.quota()
            except Exception:  # noqa: BLE001 - one route's backend must not hide the others
                quota = None
            status = RouteStatus(name=name, takes=route_shares(self.settings, name), quota=quota,
                                 max_rate=float(route.max_rate) if route.max_rate else None)
            if status.max_rate:
                budget, window = send_window(status.max_rate)
                status.window_budget, status.window_seconds = budget, window
                status.window_sends = await self.gateway.storage.send_usage(f"delivery:{name}", window, now,
                                                                            GRANT_LEASE_SECONDS)
            return status

        return list(await asyncio.gather(*(one(name, route) for name, route in self.routes.items())))

    async def account_status(self) -> Any:
        return await self.routes[self.settings.default].account_status()


@hookimpl
def register_settings(register) -> None:
    register(NAME, RoutesSettings)


@hookimpl
def register_deliveries(register) -> None:
    register(NAME, Routes)
