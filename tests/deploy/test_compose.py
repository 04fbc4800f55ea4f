"""compose.yaml checked statically: services and commands, the ``.env`` wiring (every variable it
uses is documented in ``.env.example``, and the resulting environment is a valid Postgate
configuration), healthchecks, named volumes, start order, and Ghost wired to the service name."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from dotenv import dotenv_values

from deploy_harness import ROOT, dockerfile_instructions
from postgate.app import Gateway
from postgate.settings import ConfigError, load_settings, unknown_env_vars

COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
POSTGATE_SERVICES = ("migrate", "postgate", "worker")


def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def example_env() -> dict[str, str]:
    return {k: v for k, v in dotenv_values(ENV_EXAMPLE).items() if v is not None}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` (``$$`` is a literal ``$``)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        if env.get(name):
            return env[name]
        if op in (":?", "?"):
            raise AssertionError(f"${{{name}}} is required: {arg}")
        return arg if op in (":-", "-") else ""

    return VARIABLE.sub(one, value.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture
def compose() -> dict[str, Any]:
    return interpolate(raw(), example_env())


def container_env(service: dict[str, Any]) -> dict[str, str]:
    """What a Postgate container sees: the image's ENV, then env_file, then ``environment``."""
    env: dict[str, str] = {}
    for instruction in dockerfile_instructions():
        if instruction.keyword == "ENV" and instruction.stage == 2:
            for pair in instruction.arguments.split():
                key, _, value = pair.partition("=")
                env[key] = value
    assert service["env_file"] == ".env"
    env.update(example_env())
    env.update({key: str(value) for key, value in service["environment"].items()})
    return env


def test_services_and_their_commands(compose):
    services = compose["services"]
    assert set(services) == {"migrate", "postgate", "worker", "mariadb", "ghost", "ghost-db"}
    assert services["postgate"]["command"] == ["serve", "--workers", "0"]
    assert services["worker"]["command"] == ["worker"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in POSTGATE_SERVICES:
        assert services[name]["build"]["context"] == "."
        assert services[name]["image"] == services["postgate"]["image"]
        assert services[name]["init"] is True
    # `--scale worker=N` needs a worker without a fixed name or published port.
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]
    assert {name for name, s in services.items() if s.get("profiles")} == {"ghost", "ghost-db"}
    assert services["ghost"]["image"].split(":")[0] == "ghost" and services["ghost"]["image"].endswith(":6")


def test_every_variable_compose_uses_is_documented_in_env_example():
    used = {match.group(1) for match in VARIABLE.finditer(COMPOSE.read_text())}
    documented = set(example_env())
    assert used, "compose.yaml reads nothing from .env"
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"
    unused = {name for name in documented if not name.startswith("POSTGATE_")} - used
    assert not unused, f".env.example documents variables compose.yaml never uses: {sorted(unused)}"


def test_env_example_names_only_real_postgate_settings():
    assert unknown_env_vars(example_env()) == []
    assert unknown_env_vars({"POSTGATE_PUBLISH_PORT": "1"}) == ["POSTGATE_PUBLISH_PORT"]  # the check bites


@pytest.mark.parametrize("name", POSTGATE_SERVICES)
def test_each_postgate_container_gets_a_valid_mysql_configuration(compose, name, monkeypatch, tmp_path):
    env = container_env(compose["services"][name])
    for key in [k for k in os.environ if k.startswith("POSTGATE_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("POSTGATE_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no postgate.toml around
    try:
        settings = load_settings()
        Gateway(settings)  # the backends named are registered by the loaded plugins
    except ConfigError as exc:
        pytest.fail(f"{name}: {exc}")
    assert str(settings.data_dir) == "/data" and settings.gateway.host == "0.0.0.0"
    assert settings.backends.storage == "mysql" and "mysql" in settings.load_plugins
    assert settings.gateway.migrate_on_start is False, "only the migrate service migrates"
    mysql = settings.plugins["mysql"]
    example = example_env()
    assert mysql["host"] == "mariadb"
    assert (mysql["database"], mysql["user"], mysql["password"]) == (
        example["MARIADB_DATABASE"], example["MARIADB_USER"], example["MARIADB_PASSWORD"])
    assert settings.domain == example["POSTGATE_DOMAIN"] and settings.api_key is not None


def test_ghost_is_wired_to_the_postgate_service_by_name(compose):
    services = compose["services"]
    ghost = services["ghost"]["environment"]
    example = example_env()
    base = urlsplit(ghost["bulkEmail__mailgun__baseUrl"])
    assert base.hostname == "postgate" and base.hostname in services
    assert base.path == "/v3" and base.scheme == "http"
    # The port Ghost calls is the one Postgate listens on inside its container.
    published = services["postgate"]["ports"][0].rsplit(":", 1)[1]
    assert base.port == int(published) == 3000
    assert ghost["bulkEmail__mailgun__apiKey"] == example["POSTGATE_API_KEY"]
    assert ghost["bulkEmail__mailgun__domain"] == example["POSTGATE_DOMAIN"]
    assert ghost["database__connection__host"] == "ghost-db" and ghost["database__client"] == "mysql"
    db = services["ghost-db"]["environment"]
    assert (db["MYSQL_DATABASE"], db["MYSQL_USER"], db["MYSQL_PASSWORD"]) == (
        ghost["database__connection__database"], ghost["database__connection__user"],
        ghost["database__connection__password"])


def test_healthchecks(compose):
    services = compose["services"]
    for name in ("postgate", "mariadb", "ghost-db"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and check.get("start_period"), name
    assert "/health/ready" in " ".join(services["postgate"]["healthcheck"]["test"])
    assert "healthcheck.sh" in services["mariadb"]["healthcheck"]["test"]
    # Workers and the one-shot migration listen on no port: the image's HTTP check is off for them.
    for name in ("worker", "migrate"):
        assert services[name]["healthcheck"] == {"disable": True}


def test_start_order_waits_on_health_and_on_the_migration(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert rule.get("condition") in ("service_healthy", "service_completed_successfully"), name
            if rule["condition"] == "service_healthy":
                assert "test" in services[dependency].get("healthcheck", {}), f"{dependency} has no healthcheck"
    for name in ("postgate", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["mariadb"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["mariadb"]["condition"] == "service_healthy"
    assert services["ghost"]["depends_on"]["postgate"]["condition"] == "service_healthy"
    assert services["ghost"]["depends_on"]["ghost-db"]["condition"] == "service_healthy"


def test_state_lives_in_named_volumes(compose):
    services = compose["services"]
    declared = set(compose["volumes"])
    used = set()
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source, target = mount.split(":")[:2]
            assert not source.startswith((".", "/")), f"{name} mounts a host path: {mount}"
            used.add(source)
    assert used == declared
    for name in POSTGATE_SERVICES:
        assert "postgate-data:/data" in services[name]["volumes"]
    assert "mariadb-data:/var/lib/mysql" in services["mariadb"]["volumes"]
    assert "ghost-db-data:/var/lib/mysql" in services["ghost-db"]["volumes"]


def test_a_missing_secret_stops_compose_with_its_name():
    """``${VAR:?…}``: without MARIADB_PASSWORD the file cannot be read (so the check above can fail)."""
    env = example_env()
    del env["MARIADB_PASSWORD"]
    with pytest.raises(AssertionError, match="MARIADB_PASSWORD"):
        interpolate(raw(), env)
