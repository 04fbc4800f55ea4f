"""Building a gateway's plugin manager: built-ins, configured entry points, explicit objects."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Iterable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from . import hookspecs
from .settings import ConfigError, env_defaults_of

ENTRYPOINT_GROUP = "postgate"

#: Built-in plugins, by the short name config uses for them (``disable_plugins``).
DEFAULT_PLUGINS: dict[str, str] = {
    "mailgun": "postgate.mailgun.plugin",
    "api_keys": "postgate.builtin.api_keys",
    "sqlite": "postgate.builtin.sqlite_storage",
    "local_queue": "postgate.builtin.local_queue",
    "outbox": "postgate.builtin.outbox",
    "routes": "postgate.builtin.routes",
    "suppressions": "postgate.builtin.suppressions",
    "health": "postgate.builtin.health",
    "oplog": "postgate.builtin.oplog",
}

#: Built-ins that cannot be disabled: the Mailgun API is what Postgate is.
ESSENTIAL_PLUGINS = frozenset({"mailgun", "api_keys"})


def build_plugin_manager(
    load_plugins: Sequence[str] = (),
    disable_plugins: Sequence[str] = (),
    extra: Iterable[object] = (),
    load_entrypoints: bool = True,
) -> pluggy.PluginManager:
    """A fresh plugin manager: built-ins, then the named entry points, then ``extra`` objects."""
    pm = pluggy.PluginManager("postgate")
    pm.add_hookspecs(hookspecs)
    for name in disable_plugins:
        if name in ESSENTIAL_PLUGINS:
            raise ConfigError(f"the built-in plugin {name!r} is essential and cannot be disabled")
        if name not in DEFAULT_PLUGINS:
            raise ConfigError(
                f"disable_plugins names {name!r}, which is not a built-in plugin "
                f"(built-ins: {', '.join(DEFAULT_PLUGINS)})"
            )
        pm.set_blocked(name)
    for name, module in DEFAULT_PLUGINS.items():
        if not pm.is_blocked(name):
            pm.register(importlib.import_module(module), name=name)
    if load_entrypoints:
        available = {ep.name for ep in entry_points(group=ENTRYPOINT_GROUP)}
        names = sorted(available) if "*" in load_plugins else list(load_plugins)
        for name in names:
            if name in DEFAULT_PLUGINS:
                raise ConfigError(f"load_plugins names {name!r}, which is a built-in plugin: it is always loaded")
            if name not in available:
                raise ConfigError(
                    f"plugin {name!r} is listed in load_plugins but no installed package provides an "
                    f"entry point {name!r} in group {ENTRYPOINT_GROUP!r} "
                    f"(installed: {', '.join(sorted(available)) or 'none'}); install it, e.g. "
                    f"`pip install postgate-{name}`"
                )
            pm.load_setuptools_entrypoints(ENTRYPOINT_GROUP, name=name)
    elif load_plugins:
        raise ConfigError("load_plugins is set but entry-point loading is off")
    for obj in extra:
        pm.register(obj)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigError(f"a plugin implements a hook Postgate does not have: {exc}") from None
    return pm


def plugin_env_defaults(pm: pluggy.PluginManager) -> set[str]:
    """The variables the plugins' settings models (``register_settings``) read by default: the
    defaults of their ``*_env`` fields."""
    models: list[Any] = []

    def collect(name: str, model: Any) -> None:
        models.append(model)

    pm.hook.register_settings(register=collect)
    return {name for model in models for name in env_defaults_of(model)}


async def resolve(value: Any) -> Any:
    """Await ``value`` if it is awaitable (hooks that "may be async")."""
    if inspect.isawaitable(value):
        return await value
    return value


async def call_all(hook: Any, **kwargs: Any) -> list[Any]:
    """Call a fan-out hook, await every result, drop ``None`` and flatten list results."""
    out: list[Any] = []
    for value in hook(**kwargs):
        value = await resolve(value)
        if value is None:
            continue
        if isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


def plugin_rows(pm: pluggy.PluginManager, include_builtins: bool = False) -> list[dict[str, Any]]:
    """Name, version and hooks of every registered plugin (for ``postgate plugins``)."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        builtin = name in DEFAULT_PLUGINS
        if builtin and not include_builtins:
            continue
        dist = dists.get(id(plugin))
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
        rows.append(
            {
                "name": name,
                "version": dist.version if dist is not None else None,
                "distribution": dist.project_name if dist is not None else None,
                "builtin": builtin,
                "loaded": True,
                "hooks": hooks,
            }
        )
    return rows


def unloaded_entry_points(pm: pluggy.PluginManager) -> list[EntryPoint]:
    """The entry points (group ``postgate``) of plugins installed but not loaded, one per name,
    sorted by name."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRYPOINT_GROUP):
        if ep.name in found or pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        found[ep.name] = ep
    return [found[name] for name in sorted(found)]


def unloaded_row(ep: EntryPoint, load_plugins: Sequence[str]) -> dict[str, Any]:
    """Name, version and distribution of a plugin that is not loaded, with the ``load_plugins``
    value that would load it."""
    dist = ep.dist
    return {
        "name": ep.name,
        "version": dist.version if dist is not None else None,
        "distribution": dist.metadata["Name"] if dist is not None else None,
        "builtin": False,
        "loaded": False,
        "load_plugins": [*load_plugins, ep.name],
    }


def unloaded_rows(pm: pluggy.PluginManager, load_plugins: Sequence[str]) -> list[dict[str, Any]]:
    """Plugins installed (an entry point in group ``postgate``) but not loaded, each with the
    ``load_plugins`` value that would load it (for ``postgate plugins``)."""
    return [unloaded_row(ep, load_plugins) for ep in unloaded_entry_points(pm)]


def load_hint(load_plugins: Sequence[str]) -> str:
    """How to set ``load_plugins`` to ``load_plugins``: the TOML line and the environment form."""
    value = json.dumps(list(load_plugins))
    return f"load_plugins = {value} in postgate.toml, or POSTGATE_LOAD_PLUGINS='{value}'"


def entry_point_env_defaults(ep: EntryPoint) -> set[str] | None:
    """The variables the plugin behind ``ep`` reads by default (its settings model's ``*_env``
    defaults), found by importing it into a plugin manager of its own; ``None`` when its import or
    its hooks raise (a broken installed plugin)."""
    try:
        pm = pluggy.PluginManager("postgate")
        pm.add_hookspecs(hookspecs)
        pm.register(ep.load(), name=ep.name)
        return plugin_env_defaults(pm)
    except Exception:  # a broken plugin must not turn a configuration error into a traceback
        return None


def unloaded_reader_hints(pm: pluggy.PluginManager, load_plugins: Sequence[str], names: Sequence[str],
                          ) -> list[str]:
    """For the variables among ``names`` that an installed plugin which is not loaded reads by
    default, a line per such plugin naming it and how to load it. Imports every installed plugin
    that is not loaded: for error messages only."""
    hints = []
    for ep in unloaded_entry_points(pm):
        defaults = entry_point_env_defaults(ep) or set()
        read = [name for name in names if name in defaults]
        if not read:
            continue
        row = unloaded_row(ep, load_plugins)
        verb = "is" if len(read) == 1 else "are"
        hints.append(f"{', '.join(read)} {verb} read by the {row['name']} plugin ({row['distribution'] or '?'}), "
                     f"which is not loaded: load it with {load_hint(row['load_plugins'])}")
    return hints
