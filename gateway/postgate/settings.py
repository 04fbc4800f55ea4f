"""Configuration: ``postgate.toml`` plus ``POSTGATE_…`` environment variables (pydantic-settings).

Precedence, highest first: explicit arguments, environment variables (nested with ``__``, e.g.
``POSTGATE_BACKENDS__STORAGE=mysql``), the TOML file, defaults. With no file at all,
``POSTGATE_API_KEY`` and ``POSTGATE_DOMAIN`` are enough for the embedded default.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "POSTGATE_"
CONFIG_ENV = "POSTGATE_CONFIG"
DEFAULT_CONFIG = Path("postgate.toml")
DEFAULT_DOMAIN = "localhost"
#: ``POSTGATE_…`` variables the core reads by name that are not settings: the configuration file.
#: (Plugins' variables come from their settings models: see :func:`env_defaults_of`.)
NAMED_ENV = frozenset({CONFIG_ENV})


class ConfigError(Exception):
    """A configuration or startup problem, with a message that says how to fix it."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DomainSettings(Strict):
    """A sending domain and the API key that may use it."""

    api_key: SecretStr | None = None
    api_key_env: str | None = Field(None, description="read the API key from this environment variable")

    def key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        return None


class GatewaySettings(Strict):
    """The HTTP server, the workers and the pipeline."""

    public_url: str | None = Field(None, description="absolute URL clients reach; used in paging links")
    host: str = "127.0.0.1"
    port: int = 3000
    workers: int = Field(1, ge=0, description="worker loops started by `postgate serve` (in each worker process)")
    worker_processes: int = Field(
        0, ge=0, description="worker processes `postgate serve` starts and supervises, each running "
                             "`workers` loops (0: the loops run inside the serve process); use one per core"
    )
    jobs_per_worker: int = Field(4, ge=1, description="jobs a worker loop handles at once")
    chunk_size: int = Field(100, ge=1, description="ledger rows claimed and sent per step")
    job_size: int = Field(100, ge=0, description="ledger rows per queue job, so that several worker processes "
                                                 "share a batch; 0: one job per batch (use ~50 with SQS)")
    lease_seconds: float = Field(120.0, gt=0, description="how long a claimed row or job stays leased")
    in_doubt: Literal["hold", "resend"] = Field(
        "hold", description="a send whose outcome nobody can tell (no provider answer, no event): "
                            "hold = record it as sent, never again; resend = send it again"
    )
    retry_delays: list[float] = Field(
        default_factory=lambda: [60, 300, 600, 900, 1800, 3600, 7200, 14400],
        description="seconds before each retry of a temporary failure; after the last, the row fails",
    )
    retention_days: float = Field(30, ge=1, description="events and batches older than this are purged")
    migrate_on_start: bool = Field(True, description="apply storage migrations when the gateway starts")
    max_request_mb: float = Field(52.4, gt=0, description="largest request body accepted (413 above)")
    job_max_failures: int = Field(
        5, ge=1, description="failed attempts after which a job is dead-lettered (its unsent recipients fail)"
    )
    job_backoff: float = Field(
        5.0, ge=0, description="seconds before retrying a failed job; doubles per failure"
    )
    job_backoff_max: float = Field(600.0, ge=0, description="longest wait between attempts of a failed job")


class BackendSettings(Strict):
    """Backends chosen by the names their plugins register."""

    queue: str = "local"
    delivery: str = "outbox"
    storage: str = "sqlite"
    event_sources: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    """Everything Postgate reads from ``postgate.toml`` and ``POSTGATE_…`` variables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
    )

    load_plugins: list[str] = Field(default_factory=list, description="entry-point names to load")
    disable_plugins: list[str] = Field(default_factory=list, description="built-in plugins to turn off")
    data_dir: Path = Field(Path("data"), description="SQLite database, outbox, generated API key")
    api_key: SecretStr | None = Field(None, description="API key of the quick-start domain")
    domain: str | None = Field(None, description="the quick-start sending domain")
    domains: dict[str, DomainSettings] = Field(default_factory=dict)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    backends: BackendSettings = Field(default_factory=BackendSettings)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    log_format: Literal["console", "json"] = Field(
        "console", description="console: one readable line per record; json: one JSON object per line")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="lowest level written (the ORM and AWS libraries stay at warning)")

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _lower_words(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("domains")
    @classmethod
    def _lower_domains(cls, value: dict[str, DomainSettings]) -> dict[str, DomainSettings]:
        return {name.lower(): conf for name, conf in value.items()}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)

    def domain_keys(self) -> dict[str, str | None]:
        """Every configured domain with its API key (``None`` where the key is missing)."""
        keys = {name: conf.key() for name, conf in self.domains.items()}
        if self.domain or self.api_key or not self.domains:
            quick = (self.domain or DEFAULT_DOMAIN).lower()
            keys.setdefault(quick, self.api_key.get_secret_value() if self.api_key else None)
        return keys


def env_names_in(value: Any) -> set[str]:
    """The variables a configuration names in its ``*_env`` settings (``api_key_env``, a plugin's
    ``keys_env``, …): they are read by name and are not settings of their own."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.endswith("_env") and isinstance(item, str):
                found.add(item)
            else:
                found |= env_names_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found |= env_names_in(item)
    return found


def env_defaults_of(model: type[BaseModel]) -> set[str]:
    """The defaults of ``model``'s ``*_env`` fields, nested models' included: the variables a
    plugin reads by name when its configuration leaves them unset (the tracking plugin's
    ``keys_env = "POSTGATE_TRACKING_KEYS"``)."""
    found: set[str] = set()
    seen: set[type[BaseModel]] = set()
    todo = [model]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, field in current.model_fields.items():
            if name.endswith("_env") and isinstance(field.default, str):
                found.add(field.default)
            todo.extend(models_in(field.annotation))
    return found


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's type holds: itself, or inside ``X | None``, ``dict[str, X]``, …"""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in models_in(arg)]


def unknown_env_vars(environ: dict[str, str] | None = None, allowed: set[str] | frozenset[str] = frozenset(),
                     ) -> list[str]:
    """``POSTGATE_…`` variables that name no setting (a typo would otherwise be ignored), leaving
    out ``allowed`` (names read by name, see :func:`refuse_unknown_variables`) and
    :data:`NAMED_ENV`."""
    environ = dict(os.environ if environ is None else environ)
    top = {name.upper() for name in Settings.model_fields}
    allowed_extra = NAMED_ENV | set(allowed)
    bad = []
    for name in environ:
        if not name.startswith(ENV_PREFIX) or name in allowed_extra:
            continue
        first = name[len(ENV_PREFIX):].split("__", 1)[0]
        if first not in top:
            bad.append(name)
    return sorted(bad)


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Read settings from ``config`` (or ``$POSTGATE_CONFIG``, or ``./postgate.toml`` if it
    exists) and the environment. Raises :class:`ConfigError` with a readable message."""
    path: Path | None
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
    elif os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
        if not path.is_file():
            raise ConfigError(f"config file {path} (from {CONFIG_ENV}) does not exist")
    else:
        path = DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None
    cls = Settings
    if path is not None:
        config_dict = SettingsConfigDict(**{**Settings.model_config, "toml_file": path})
        cls = type("Settings", (Settings,), {"model_config": config_dict})
    settings: Settings | None = None
    error: ConfigError | None = None
    try:
        settings = cls(**overrides)
    except ValidationError as exc:
        error = ConfigError(describe_validation_error(exc, path))
    except (OSError, ValueError) as exc:  # unreadable file, TOML syntax error
        error = ConfigError(f"cannot read config file {path}: {exc}")
    if error is not None:  # which plugins are loaded, and so which variables they read, is unknown
        raise error from None
    assert settings is not None
    refuse_unknown_variables(settings)
    return settings


def refuse_unknown_variables(settings: Settings) -> None:
    """Raise :class:`ConfigError` for ``POSTGATE_…`` variables that are neither settings nor read
    by name: by the core (:data:`NAMED_ENV`), through a ``*_env`` setting of the configuration, or
    as the ``*_env`` default of a loaded plugin's settings model (the plugins are loaded only when
    some variable is left to explain). A refused variable that an installed plugin which is not
    loaded reads by default gets a line saying how to load that plugin."""
    bad = unknown_env_vars(allowed=env_names_in(settings.model_dump()))
    if not bad:
        return
    from .plugins import build_plugin_manager, plugin_env_defaults, unloaded_reader_hints  # (.plugins imports this module)

    pm = build_plugin_manager(settings.load_plugins, settings.disable_plugins)
    defaults = plugin_env_defaults(pm)
    bad = [name for name in bad if name not in defaults]
    if bad:
        hints = unloaded_reader_hints(pm, settings.load_plugins, bad)
        raise ConfigError("\n  ".join([unknown_variables_message(bad), *hints]))


def unknown_variables_message(names: list[str]) -> str:
    """The error for ``POSTGATE_…`` variables that name no setting."""
    return "unknown setting in the environment: " + ", ".join(names) + " (see docs/configuration.md for the names)"


def env_source(loc: tuple[Any, ...], environ: dict[str, str] | None = None) -> str | None:
    """The ``POSTGATE_…`` variable that set the setting at ``loc`` (or a parent of it), if any."""
    environ = {name.upper(): name for name in (os.environ if environ is None else environ)}
    parts = [str(part).upper() for part in loc]
    for end in range(len(parts), 0, -1):
        name = ENV_PREFIX + "__".join(parts[:end])
        if name in environ:
            return environ[name]
    return None


def describe_validation_error(exc: ValidationError, path: Path | None = None) -> str:
    """Each error on a line, blamed on its real source: the environment variable or the file."""
    errors = exc.errors()
    sources = [env_source(err["loc"]) for err in errors]
    if all(sources):
        where = " in the environment"
    elif path and not any(sources):
        where = f" in {path}"
    else:
        where = ""
    lines = [f"invalid configuration{where}:"]
    for err, source in zip(errors, sources):
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        origin = f" (from environment variable {source})" if source else f" (in {path})" if path and where == "" else ""
        problem = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {loc}{origin}: {problem}")
    return "\n".join(lines)


def unset_key_variables(settings: Settings) -> list[str]:
    """``domain "name": api_key_env NAME`` for every domain whose key variable is unset or empty."""
    return [f'domain "{name}": api_key_env {conf.api_key_env} is not set'
            for name, conf in settings.domains.items()
            if conf.api_key is None and conf.api_key_env and not os.environ.get(conf.api_key_env)]


def require_domain_keys(settings: Settings) -> None:
    """Refuse to start when a domain reads its key from an environment variable that is not set."""
    missing = unset_key_variables(settings)
    if missing:
        raise ConfigError("missing API key: " + "; ".join(missing)
                          + " (set the variable, or give the domain an api_key)")


def ensure_api_key(settings: Settings) -> tuple[str, str, bool]:
    """For the quick start: make sure the default domain has a key.

    Returns ``(domain, key, generated)``. A generated key is kept in ``data_dir/api_key`` so
    it survives restarts.
    """
    domain = (settings.domain or DEFAULT_DOMAIN).lower()
    if settings.api_key is not None:
        return domain, settings.api_key.get_secret_value(), False
    key_file = settings.data_dir / "api_key"
    if key_file.is_file():
        key = key_file.read_text().strip()
        generated = False
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key = "key-" + secrets.token_hex(16)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        generated = True
    settings.api_key = SecretStr(key)
    return domain, key, generated
