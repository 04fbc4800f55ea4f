"""What the command line says when a new user gets something wrong: the cause, and how to fix it."""

import os
import subprocess
import sys

import pytest


def run_postgate(tmp_path, *args, **env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "postgate", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", [["doctor"], ["aws", "bootstrap"]])
def test_a_plugin_command_says_which_plugin_to_load(tmp_path, command):
    done = run_postgate(tmp_path, *command)
    assert done.returncode != 0
    assert "No such command" not in done.stderr
    assert (f"{command[0]!r} is provided by the postgate-ses plugin: add \"ses\" to load_plugins in postgate.toml "
            "(or POSTGATE_LOAD_PLUGINS='[\"ses\"]')") in done.stderr, done.stderr


def test_a_plugin_command_works_once_its_plugin_is_loaded(tmp_path):
    done = run_postgate(tmp_path, "doctor", "--help", POSTGATE_LOAD_PLUGINS='["ses"]')
    assert done.returncode == 0, done.stderr
    assert "postgate doctor [OPTIONS]" in done.stdout
