"""``postgate dashboard …`` without the plugin loaded names the plugin and how to load it."""

from __future__ import annotations

import os
import subprocess
import sys


def test_without_the_plugin_loaded_the_command_says_how_to_load_it(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    done = subprocess.run([sys.executable, "-m", "postgate", "dashboard", "create-user", "a@example.com"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "POSTGATE_LOAD_PLUGINS='[\"dashboard\"]'" in done.stderr, done.stderr
