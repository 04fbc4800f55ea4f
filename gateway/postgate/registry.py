"""Named registries: how plugins offer backends and settings models by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from .settings import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names to factories (or models) for one kind of thing; duplicate names are an error."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a {self.kind} must be registered with a non-empty name, got {name!r}")
        if name in self.entries:
            raise ConfigError(f"two plugins register a {self.kind} named {name!r}")
        self.entries[name] = entry

    def get(self, name: str) -> T:
        try:
            return self.entries[name]
        except KeyError:
            available = ", ".join(sorted(self.entries)) or "none"
            raise ConfigError(
                f"unknown {self.kind} {name!r} (available: {available}); "
                "is the plugin that provides it listed in load_plugins?"
            ) from None

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries


BackendFactory = Callable[..., object]
