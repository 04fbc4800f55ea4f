"""``postgate suppressions audit`` without the plugin loaded says how to load it; loaded, on an
empty trail, it says there is nothing."""

import os
import subprocess
import sys


def run(tmp_path, *args, **env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "postgate", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_without_the_plugin_the_command_names_it(tmp_path):
    done = run(tmp_path, "suppressions", "audit")
    assert done.returncode != 0
    assert "'suppressions' is provided by the postgate-suppression-audit plugin" in done.stderr, done.stderr
    assert "POSTGATE_LOAD_PLUGINS='[\"suppression_audit\"]'" in done.stderr


def test_an_empty_trail_says_so(tmp_path):
    done = run(tmp_path, "suppressions", "audit", POSTGATE_LOAD_PLUGINS='["suppression_audit"]',
               POSTGATE_DATA_DIR=str(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no suppression changes recorded"
