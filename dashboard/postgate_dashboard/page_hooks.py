"""The dashboard's own hook, through which another plugin adds pages to the dashboard (see
docs/dashboard.md, "Pages of other plugins"). The dashboard adds this spec to the gateway's plugin
manager when it mounts its routes; an implementation is marked ``@hookimpl(optionalhook=True)``
so a gateway without the dashboard starts all the same."""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("postgate")


class DashboardPageHooks:
    """The hooks the dashboard calls (a class, so ``pm.add_hookspecs`` takes just these)."""

    @hookspec
    def dashboard_pages(self, gateway: Any, pages: Any) -> None:
        """Collect, sync. Add pages with ``pages.add(blueprint, nav=[(label, endpoint)],
        templates=loader)``; each route of ``blueprint`` is served under the dashboard's mount,
        behind its sign-in, CSRF check and security headers. ``pages.render(name, **context)``
        draws a template in the dashboard's layout; ``pages.csv_response(...)`` streams a CSV
        export like the dashboard's tables."""


def add_page_hooks(pm: pluggy.PluginManager) -> None:
    """Add the dashboard's hook specs to ``pm`` (once; plugins registered before are checked)."""
    caller = getattr(pm.hook, "dashboard_pages", None)
    if caller is None or not caller.has_spec():
        pm.add_hookspecs(DashboardPageHooks)
