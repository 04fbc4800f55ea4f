"""Plugin-owned tables: the tortoise apps plugins declare through ``register_models``.

A plugin owns its tables the way a Django app does: a tortoise models module of its own and an
aerich history per dialect, laid out as ``<migrations>/<dialect>/<app_label>/N_<time>_<name>.py``
(the layout the core's own history uses). A tortoise-based storage puts every declared app in
its context, on the same database connection as the core tables, and ``postgate migrate``
brings each app's tables up to date with its own history (aerich records the app label).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

from .settings import ConfigError

#: App labels the core uses itself: the core tables and aerich's own.
RESERVED_LABELS = frozenset({"models", "aerich"})
LABEL = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
#: The dialects a plugin ships migrations for.
DIALECTS = ("sqlite", "mysql")


@dataclasses.dataclass(frozen=True)
class ModelApp:
    """One plugin's tables: tortoise app ``label``, its ``models`` module (dotted name) and the
    folder holding its per-dialect migration histories."""

    label: str
    models: str
    migrations: Path

    def history(self, dialect: str) -> Path:
        """The folder of this app's migrations for ``dialect``."""
        return self.migrations / dialect / self.label

    def versions(self, dialect: str) -> list[str]:
        """This app's migration files for ``dialect``, oldest first."""
        folder = self.history(dialect)
        files = [p.name for p in folder.glob("[0-9]*_*.py")] if folder.is_dir() else []
        return sorted(files, key=lambda name: int(name.split("_", 1)[0]))


def migrations_folder(migrations: str | Path) -> Path:
    """A migrations location given as a folder or as a dotted package name (``pkg.migrations``)."""
    if isinstance(migrations, Path):
        return migrations
    try:
        spec = importlib.util.find_spec(migrations)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"register_models: {migrations!r} is not an importable package of migrations")
    return Path(next(iter(spec.submodule_search_locations)))


def model_app(label: str, models: str, migrations: str | Path) -> ModelApp:
    """Check what a plugin declared and build its :class:`ModelApp`."""
    if not isinstance(label, str) or not LABEL.match(label):
        raise ConfigError(f"register_models: app label {label!r} must be lower-case letters, digits "
                          "and underscores, starting with a letter")
    if label in RESERVED_LABELS:
        raise ConfigError(f"register_models: app label {label!r} is reserved by Postgate")
    if not isinstance(models, str) or importlib.util.find_spec(models) is None:
        raise ConfigError(f"register_models: app {label!r} names models module {models!r}, "
                          "which cannot be imported")
    return ModelApp(label, models, migrations_folder(migrations))
