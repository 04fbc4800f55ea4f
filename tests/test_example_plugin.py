"""The plugin of docs/writing_plugins.md installs as a package and loads through its entry point."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "postgate-hello"


def installer() -> list[str]:
    uv = ROOT / ".tools" / "bin" / "uv"
    if uv.exists():
        return [str(uv), "pip", "install", "--python", sys.executable]
    found = shutil.which("uv")
    if found:
        return [found, "pip", "install", "--python", sys.executable]
    return [sys.executable, "-m", "pip", "install"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [*installer(), "--quiet", "--no-deps", "--target", str(target), str(EXAMPLE)],
        check=True, cwd=ROOT,
    )
    assert (target / "postgate_hello" / "__init__.py").exists()
    return target


def run_cli(installed, tmp_path, *args, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    environ.update(PYTHONPATH=str(installed), **env)
    return subprocess.run(
        [sys.executable, "-m", "postgate", *args], capture_output=True, text=True, env=environ, cwd=tmp_path,
    )


def test_plugins_command_lists_the_installed_example(installed, tmp_path):
    result = run_cli(installed, tmp_path, "plugins", "--json", POSTGATE_LOAD_PLUGINS='["hello"]')
    assert result.returncode == 0, result.stderr
    rows = [row for row in json.loads(result.stdout) if row["loaded"]]
    assert rows == [{
        "name": "hello", "version": "0.1.0", "distribution": "postgate-hello", "builtin": False, "loaded": True,
        "hooks": ["prepare_message", "register_routes", "register_settings"],
    }]


def test_not_loaded_unless_named(installed, tmp_path):
    result = run_cli(installed, tmp_path, "plugins", "--json")
    rows = json.loads(result.stdout)
    assert [row for row in rows if row["loaded"]] == []
    [hello] = [row for row in rows if row["name"] == "hello"]
    assert hello == {"name": "hello", "version": "0.1.0", "distribution": "postgate-hello", "builtin": False,
                     "loaded": False, "load_plugins": ["hello"]}


def test_plugins_command_says_how_to_load_an_installed_plugin(installed, tmp_path):
    listed = run_cli(installed, tmp_path, "plugins")
    assert listed.returncode == 0, listed.stderr
    text = listed.stdout
    assert "no plugins loaded" in text
    unloaded = text[text.index("installed but not loaded:"):]
    assert "hello (postgate-hello 0.1.0)" in unloaded
    hint = next(line for line in unloaded.splitlines() if "load_plugins = [\"hello\"]" in line)
    toml_line = hint.split("load it with: ", 1)[1].split(" in postgate.toml", 1)[0]
    env_value = hint.rsplit("POSTGATE_LOAD_PLUGINS='", 1)[1].rstrip("'")

    # each form of the hint, followed as printed, loads the plugin
    by_env = run_cli(installed, tmp_path, "plugins", POSTGATE_LOAD_PLUGINS=env_value)
    assert by_env.stdout.startswith("hello (0.1.0): prepare_message"), by_env.stdout + by_env.stderr
    (tmp_path / "postgate.toml").write_text(toml_line + "\n")
    by_file = run_cli(installed, tmp_path, "plugins")
    assert by_file.stdout.startswith("hello (0.1.0): prepare_message"), by_file.stdout + by_file.stderr
    assert "  hello (postgate-hello" not in by_file.stdout


def test_plugins_hint_keeps_the_plugins_already_loaded(installed, tmp_path):
    result = run_cli(installed, tmp_path, "plugins", "--json", POSTGATE_LOAD_PLUGINS='["hello"]')
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["hello"]["loaded"] is True
    unloaded = [row for row in rows.values() if not row["loaded"]]
    assert unloaded, "the workspace's own plugins (ses, sqs, mysql) are installed and not loaded"
    assert all(row["load_plugins"] == ["hello", row["name"]] for row in unloaded)


def test_settings_table_is_validated(installed, tmp_path):
    (tmp_path / "postgate.toml").write_text('load_plugins = ["hello"]\n[plugins.hello]\ngreting = "x"\n')
    result = run_cli(installed, tmp_path, "check-config")
    assert result.returncode != 0
    assert "[plugins.hello]" in result.stderr and "greting" in result.stderr


async def test_loaded_gateway_serves_the_route_and_adds_the_header(installed, tmp_path, monkeypatch, gateway_factory):
    monkeypatch.syspath_prepend(str(installed))
    from postgate.web import create_app

    gateway = gateway_factory(load_entrypoints=True, load_plugins=["hello"], plugin_settings={"hello": {"greeting": "hi"}})
    assert gateway.pm.has_plugin("hello")
    assert gateway.plugin_settings("hello").greeting == "hi"
    app = create_app(gateway, background=False)
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/hello")
        assert response.status_code == 200
        assert await response.get_json() == {"greeting": "hi"}


async def test_example_header_reaches_the_delivered_message(installed, monkeypatch, gateway_factory):
    monkeypatch.syspath_prepend(str(installed))
    from postgate import Message
    from postgate.worker import Worker

    gateway = gateway_factory(load_entrypoints=True, load_plugins=["hello"], plugin_settings={"hello": {"greeting": "hi"}})
    await gateway.start()
    await gateway.accept(Message(domain="mg.example.com", sender="a@mg.example.com", to=["b@example.com"],
                                 subject="s", text="t"))
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(gateway, name="w").run(stop))
    outbox = gateway.settings.data_dir / "outbox"
    deadline = time.monotonic() + 30
    while not list(outbox.rglob("*.eml")) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await task
    emls = list(outbox.rglob("*.eml"))
    assert len(emls) == 1
    raw = emls[0].read_bytes()
    assert b"X-Hello: hi" in raw
    assert b"Subject: s" in raw and b"\nt\n" in raw.replace(b"\r\n", b"\n")
