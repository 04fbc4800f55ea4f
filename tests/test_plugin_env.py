"""Variables a plugin reads by name: the ``*_env`` defaults of its settings model are not taken for
misspelt ``POSTGATE_…`` settings while it is loaded, by every command; the core names none of them."""

import os
import signal
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel

from postgate.settings import NAMED_ENV, ConfigError, env_defaults_of, load_settings

ROOT = Path(__file__).resolve().parent.parent
POSTGATE = ROOT / ".venv" / "bin" / "postgate"
KEYS = "k1:" + "s" * 32

#: A third-party plugin as an installed package would ship it: its module and its dist-info with
#: the entry point, on PYTHONPATH (no ``pip install`` needed).
ENVDEMO = '''
from pydantic import BaseModel, ConfigDict
from postgate import hookimpl


class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password_env: str = "POSTGATE_ENVDEMO_PASSWORD"


class EnvDemoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token_env: str = "POSTGATE_ENVDEMO_TOKEN"
    auth: Auth | None = None


@hookimpl
def register_settings(register):
    register("envdemo", EnvDemoSettings)
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    (folder / "postgate_envdemo.py").write_text(ENVDEMO)
    dist = folder / "postgate_envdemo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: postgate-envdemo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[postgate]\nenvdemo = postgate_envdemo\n")
    return folder


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("POSTGATE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_the_core_names_no_plugin_variable():
    assert NAMED_ENV == {"POSTGATE_CONFIG"}


def test_env_defaults_are_found_in_nested_models():
    class Leaf(BaseModel):
        secret_env: str = "LEAF_SECRET"
        unset_env: str | None = None
        not_a_name: str = "NOT_READ"

    class Root(BaseModel):
        token_env: str = "ROOT_TOKEN"
        one: Leaf | None = None
        many: dict[str, Leaf] = {}
        again: list[Leaf] = []

    assert env_defaults_of(Root) == {"ROOT_TOKEN", "LEAF_SECRET"}


def test_tracking_declares_its_keys_variable_through_its_settings_model():
    from postgate_tracking.settings import TrackingSettings

    assert "POSTGATE_TRACKING_KEYS" in env_defaults_of(TrackingSettings)


def test_a_third_party_plugin_default_variable_is_accepted_while_it_is_loaded(site, clean_env, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("POSTGATE_ENVDEMO_TOKEN", "t")
    monkeypatch.setenv("POSTGATE_ENVDEMO_PASSWORD", "p")  # the default of a nested model's field
    with pytest.raises(ConfigError, match="POSTGATE_ENVDEMO_PASSWORD, POSTGATE_ENVDEMO_TOKEN"):
        load_settings()  # not loaded: nothing reads them
    monkeypatch.setenv("POSTGATE_LOAD_PLUGINS", '["envdemo"]')
    assert load_settings().load_plugins == ["envdemo"]
    monkeypatch.setenv("POSTGATE_FOO", "x")
    with pytest.raises(ConfigError, match=r"unknown setting in the environment: POSTGATE_FOO \("):
        load_settings()


def run(site: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    environ.update(PYTHONPATH=str(site), **env)
    return subprocess.run([str(POSTGATE), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120)


def plugin_variables() -> dict[str, str]:
    return {"POSTGATE_TRACKING_KEYS": KEYS, "POSTGATE_ENVDEMO_TOKEN": "t", "POSTGATE_ENVDEMO_PASSWORD": "p"}


def write_config(folder: Path) -> None:
    (folder / "postgate.toml").write_text(textwrap.dedent('''\
        load_plugins = ["tracking", "envdemo"]
        [plugins.tracking]
        base_url = "https://email.mg.example.com"
    '''))


def test_every_command_accepts_the_loaded_plugins_variables(site, tmp_path):
    """check-config, plugins, migrate, status, jobs, backup, serve and worker all read the settings
    the same way: the variables tracking and a third-party plugin read by default pass."""
    write_config(tmp_path)
    env = plugin_variables()
    for command in (["check-config"], ["plugins"], ["migrate"], ["status"], ["jobs", "dead"],
                    ["backup", str(tmp_path / "copy.sqlite3")]):
        done = run(site, tmp_path, *command, **env)
        assert done.returncode == 0, (command, done.stderr)
        assert "unknown setting" not in done.stdout + done.stderr
    assert "envdemo (0.1)" in run(site, tmp_path, "plugins", **env).stdout
    with socket.socket() as taken:  # serve reads its settings, then stops at the taken port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(site, tmp_path, "serve", "--port", str(port), **env)
    assert f"port {port} is already in use" in done.stderr, done.stderr
    assert "unknown setting" not in done.stderr
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    environ.update(PYTHONPATH=str(site), PYTHONUNBUFFERED="1", **env)
    worker = subprocess.Popen([str(POSTGATE), "worker"], cwd=tmp_path, env=environ, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        lines = []
        while not any("Postgate worker running" in line for line in lines):
            line = worker.stdout.readline()
            assert line, "".join(lines)  # the worker exited before it ran
            lines.append(line)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)


def test_every_command_refuses_an_unknown_variable(site, tmp_path):
    write_config(tmp_path)
    env = {**plugin_variables(), "POSTGATE_FOO": "x"}
    for command in (["check-config"], ["plugins"], ["migrate"], ["status"], ["jobs", "dead"], ["worker"],
                    ["serve", "--port", "1"], ["backup", str(tmp_path / "copy.sqlite3")]):
        done = run(site, tmp_path, *command, **env)
        assert done.returncode != 0, command
        assert ("Error: unknown setting in the environment: POSTGATE_FOO (see docs/configuration.md"
                in done.stderr), (command, done.stderr)
