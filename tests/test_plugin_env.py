"""Variables a plugin reads by name: the ``*_env`` defaults of its settings model are not taken for
misspelt ``POSTGATE_…`` settings while it is loaded, by every command; the core names none of them."""

import os
import signal
import socket
import subprocess
import textwrap
from importlib.metadata import version
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


#: An installed plugin whose import raises.
BROKEN = 'raise RuntimeError("postgate_broken cannot be imported")\n'


def install(folder: Path, name: str, source: str) -> None:
    """Put plugin ``name`` (module ``postgate_<name>``, distribution ``postgate-<name>``) in ``folder``."""
    (folder / f"postgate_{name}.py").write_text(source)
    dist = folder / f"postgate_{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: postgate-{name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[postgate]\n{name} = postgate_{name}\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    install(folder, "envdemo", ENVDEMO)
    return folder


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory) -> Path:
    """envdemo and a plugin that cannot be imported (looked at first: its name sorts first)."""
    folder = tmp_path_factory.mktemp("broken_site")
    install(folder, "envdemo", ENVDEMO)
    install(folder, "broken", BROKEN)
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


UNKNOWN_FOO = "Error: unknown setting in the environment: POSTGATE_FOO (see docs/configuration.md for the names)\n"


def test_a_truly_unknown_variable_gets_no_hint(site, tmp_path):
    """Tracking and envdemo are installed but not loaded; neither reads POSTGATE_FOO."""
    done = run(site, tmp_path, "check-config", POSTGATE_FOO="x")
    assert (done.returncode, done.stderr) == (1, UNKNOWN_FOO)


def test_a_variable_of_an_installed_plugin_not_loaded_says_how_to_load_it(site, tmp_path):
    done = run(site, tmp_path, "check-config", POSTGATE_TRACKING_KEYS=KEYS)
    assert done.returncode == 1  # as for any unknown variable
    assert done.stderr == (
        "Error: unknown setting in the environment: POSTGATE_TRACKING_KEYS (see docs/configuration.md for the names)\n"
        "  POSTGATE_TRACKING_KEYS is read by the tracking plugin (postgate-tracking), which is not loaded: "
        "load it with load_plugins = [\"tracking\"] in postgate.toml, or POSTGATE_LOAD_PLUGINS='[\"tracking\"]'\n"
    )
    assert done.stderr in (ROOT / "docs" / "configuration.md").read_text()  # the example there is true


def test_the_hint_keeps_the_loaded_plugins_and_words_it_as_postgate_plugins_does(site, tmp_path):
    (tmp_path / "postgate.toml").write_text('load_plugins = ["envdemo"]\n')
    done = run(site, tmp_path, "check-config", POSTGATE_TRACKING_KEYS=KEYS, POSTGATE_FOO="x")
    assert done.returncode == 1
    first, hint = done.stderr.splitlines()
    assert first == ("Error: unknown setting in the environment: POSTGATE_FOO, POSTGATE_TRACKING_KEYS "
                     "(see docs/configuration.md for the names)")
    assert hint.startswith("  POSTGATE_TRACKING_KEYS is read by the tracking plugin (postgate-tracking), "
                           "which is not loaded: load it with ")
    listed = run(site, tmp_path, "plugins").stdout.splitlines()
    load_it_with = listed[listed.index("  tracking (postgate-tracking " + version("postgate-tracking") + ")") + 1]
    assert load_it_with.strip() == "load it with: " + hint.split("load it with ", 1)[1]
    assert '["envdemo", "tracking"]' in hint


def test_variables_of_one_plugin_not_loaded_are_named_together(site, tmp_path):
    done = run(site, tmp_path, "plugins", POSTGATE_ENVDEMO_TOKEN="t", POSTGATE_ENVDEMO_PASSWORD="p")
    assert done.returncode == 1
    assert ("\n  POSTGATE_ENVDEMO_PASSWORD, POSTGATE_ENVDEMO_TOKEN are read by the envdemo plugin (postgate-envdemo), "
            "which is not loaded: load it with load_plugins = [\"envdemo\"] in postgate.toml" in done.stderr), done.stderr


def test_a_broken_installed_plugin_is_skipped_by_the_hint(broken_site, tmp_path):
    done = run(broken_site, tmp_path, "check-config", POSTGATE_ENVDEMO_TOKEN="t", POSTGATE_TRACKING_KEYS=KEYS)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "cannot be imported" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("Error: unknown setting in the environment: POSTGATE_ENVDEMO_TOKEN, POSTGATE_TRACKING_KEYS")
    assert [line.split(" which", 1)[0] for line in lines[1:]] == [
        "  POSTGATE_ENVDEMO_TOKEN is read by the envdemo plugin (postgate-envdemo),",
        "  POSTGATE_TRACKING_KEYS is read by the tracking plugin (postgate-tracking),",
    ]
    assert run(broken_site, tmp_path, "check-config", POSTGATE_FOO="x").stderr == UNKNOWN_FOO
