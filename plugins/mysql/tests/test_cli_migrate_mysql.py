"""`postgate migrate` against a MySQL server it cannot use says why in one line, without a traceback."""

import os
import subprocess
import sys

import pytest

from postgate.testing.fixtures import free_port


def migrate(tmp_path, **settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(POSTGATE_LOAD_PLUGINS='["mysql"]', POSTGATE_BACKENDS__STORAGE="mysql",
               POSTGATE_PLUGINS__MYSQL__USER="root", POSTGATE_PLUGINS__MYSQL__PASSWORD="", **settings)
    return subprocess.run([sys.executable, "-m", "postgate", "migrate"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("settings", "expected"), [
    ({"POSTGATE_PLUGINS__MYSQL__PORT": "closed"}, "is the database server running"),
    ({"POSTGATE_PLUGINS__MYSQL__DATABASE": "postgate_no_such_database"}, "create the database first"),
])
def test_migrate_on_an_unusable_server_is_one_line(tmp_path, settings, expected):
    if settings.get("POSTGATE_PLUGINS__MYSQL__PORT") == "closed":
        settings = {"POSTGATE_PLUGINS__MYSQL__PORT": str(free_port())}
    done = migrate(tmp_path, **settings)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1, done.stderr
    assert "cannot open the mysql storage" in error_lines[0] and expected in error_lines[0]
    assert "POSTGATE_PLUGINS__MYSQL__" in error_lines[0]
