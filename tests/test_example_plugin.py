"""The plugin of docs/writing_plugins.md installs as a package and loads through its entry point."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
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
    rows = json.loads(result.stdout)
    assert rows == [{
        "name": "hello", "version": "0.1.0", "distribution": "postgate-hello", "builtin": False,
        "hooks": ["prepare_message", "register_routes", "register_settings"],
    }]


def test_not_loaded_unless_named(installed, tmp_path):
    result = run_cli(installed, tmp_path, "plugins", "--json")
    assert json.loads(result.stdout) == []


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
    for _ in range(200):
        if list(outbox.rglob("*.eml")):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    emls = list(outbox.rglob("*.eml"))
    assert len(emls) == 1
    raw = emls[0].read_bytes()
    assert b"X-Hello: hi" in raw
    assert b"Subject: s" in raw and b"\nt\n" in raw.replace(b"\r\n", b"\n")
