"""What a new user reads first: the README's first screen shows both ways to run, and both the
README and ``make run`` say how to bind for Ghost in a Docker container."""

from __future__ import annotations

import subprocess

from deploy_harness import ROOT

README = (ROOT / "README.md").read_text()


def first_screen(lines: int = 40) -> str:
    return "\n".join(README.splitlines()[:lines])


def test_the_first_screen_shows_the_two_commands_and_compose():
    screen = first_screen()
    for command in ("make run", "make test", "cp .env.example .env && docker compose up",
                    "docker compose --profile ghost up"):
        assert command in screen, f"the README's first screen lacks {command!r}"
    assert "docs/deploy.md" in screen


def test_the_readme_says_how_ghost_in_docker_reaches_postgate():
    assert "make run HOST=0.0.0.0" in README and "POSTGATE_GATEWAY__HOST=0.0.0.0" in README
    assert "http://host.docker.internal:3000/v3" in README
    assert "http://postgate:3000/v3" in README


def make_run(*args: str) -> str:
    done = subprocess.run(["make", "--dry-run", "--no-print-directory", "run", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_run_prints_the_hint_and_passes_host_and_port():
    plain = make_run()
    assert "host.docker.internal:3000/v3" in plain and "HOST=0.0.0.0" in plain
    assert "postgate serve" in plain and "--host" not in plain.split("postgate serve", 1)[1]
    bound = make_run("HOST=0.0.0.0", "PORT=3100")
    assert "postgate serve --host 0.0.0.0 --port 3100" in bound
    assert "host.docker.internal:3100/v3" in bound


def test_make_run_ignores_a_host_variable_from_the_environment():
    done = subprocess.run(["make", "--dry-run", "--no-print-directory", "run"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOST": "somewhere"})
    assert done.returncode == 0, done.stderr
    assert "--host" not in done.stdout.split("postgate serve", 1)[1]
