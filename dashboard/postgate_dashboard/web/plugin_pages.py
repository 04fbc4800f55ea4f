"""Pages other plugins add through the ``dashboard_pages`` hook (:mod:`..page_hooks`): their
blueprints nested in the dashboard's (so its sign-in, CSRF check, security headers and error pages
hold for them), their entries in the navigation and their templates beside the dashboard's."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import BaseLoader, ChoiceLoader, Environment, PrefixLoader
from quart import Blueprint, Response, g

from .table_export import csv_response, inert_cell, safe_filename_part

log = logging.getLogger("postgate.dashboard")

#: A plugin blueprint's name: it becomes part of endpoint names and template paths.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class PageError(ValueError):
    """A plugin offered a page the dashboard cannot mount (its name clashes or is not plain)."""


@dataclass(frozen=True, slots=True)
class NavEntry:
    """One link in the dashboard's navigation to a plugin page."""

    label: str
    #: The full endpoint, ``dashboard.<blueprint>.<view>``.
    endpoint: str
    #: The full name of the page's blueprint: the link is current on every page of it.
    blueprint: str


@dataclass
class PluginPages:
    """What ``dashboard_pages`` implementations get as ``pages``."""

    parent: str
    renderer: Callable[..., Awaitable[Response]]
    nav: list[NavEntry] = field(default_factory=list)
    blueprints: list[Blueprint] = field(default_factory=list)
    loaders: dict[str, BaseLoader] = field(default_factory=dict)

    def add(self, blueprint: Blueprint, *, nav: Iterable[tuple[str, str]] = (),
            templates: BaseLoader | None = None) -> None:
        """Mount ``blueprint`` under the dashboard; ``nav`` lists ``(label, view name)`` links for
        the navigation; ``templates`` (a Jinja loader) serves ``<blueprint name>/<file>``."""
        name = blueprint.name
        if not _NAME.fullmatch(name) or any(b.name == name for b in self.blueprints) or name == "static":
            raise PageError(f"a dashboard page blueprint needs a new plain name, not {name!r}")
        self.blueprints.append(blueprint)
        full = f"{self.parent}.{name}"
        self.nav.extend(NavEntry(label, f"{full}.{view}", full) for label, view in nav)
        if templates is not None:
            self.loaders[name] = templates

    def serves(self, blueprint: str | None) -> bool:
        """Whether a request of ``blueprint`` (its full name) is for a plugin page."""
        return bool(blueprint) and any(blueprint == f"{self.parent}.{b.name}" for b in self.blueprints)

    @property
    def account(self) -> Any:
        """The signed-in account (``email``, ``role``, ``is_admin``) of the request."""
        return g.get("dashboard_account")

    async def render(self, name: str, status: int = 200, **context: Any) -> Response:
        """Draw ``name`` (``<blueprint name>/<file>``, extending ``base.html``) in the dashboard's
        layout: navigation, account, ``csrf_token`` and ``url_for`` come with it."""
        return await self.renderer(name, status=status, **context)

    @staticmethod
    def csv_response(filename: str, header: Sequence[str], rows: AsyncIterator[Sequence[object]]) -> Response:
        """A CSV download streamed as ``rows`` come, text cells made inert for spreadsheets."""

        async def inert() -> AsyncIterator[list[object]]:
            async for row in rows:
                yield [inert_cell(cell) for cell in row]

        return csv_response(safe_filename_part(filename.removesuffix(".csv")) + ".csv", header, inert())

    def mount_on(self, parent: Blueprint, templates: Environment) -> None:
        """Nest every added blueprint in ``parent`` and let ``templates`` find their templates."""
        for blueprint in self.blueprints:
            parent.register_blueprint(blueprint)
            log.info("dashboard: page %r added by a plugin", blueprint.name)
        if self.loaders:
            templates.loader = ChoiceLoader([templates.loader, PrefixLoader(self.loaders)])
