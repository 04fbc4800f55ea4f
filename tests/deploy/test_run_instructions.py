"""What a new user reads first: the README's first screen shows both ways to run, and the README,
``make run`` (its help, HOST/PORT) and the start-up banner say how to bind for Ghost in Docker."""

from __future__ import annotations

import subprocess

from deploy_harness import ROOT
from postgate.cli import quick_start_banner
from postgate.testing.fixtures import make_settings

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


def make(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", **(env or {})})
    assert done.returncode == 0, done.stderr
    return done.stdout


def serve_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if "postgate serve" in line]
    return line


def test_make_run_passes_host_and_port_and_its_help_says_why():
    assert serve_line(make("--dry-run", "run")).split("postgate serve", 1)[1].strip() == ""
    assert serve_line(make("--dry-run", "run", "HOST=0.0.0.0", "PORT=3100")).endswith(
        "postgate serve --host 0.0.0.0 --port 3100")
    [help_line] = [line for line in make("help").splitlines() if line.startswith("run")]
    assert "HOST=0.0.0.0" in help_line and "Docker" in help_line


def test_make_run_ignores_a_host_variable_from_the_environment():
    line = serve_line(make("--dry-run", "run", env={"HOST": "somewhere", "PORT": "1"}))
    assert line.split("postgate serve", 1)[1].strip() == ""


def banner(tmp_path, url: str, **gateway) -> str:
    settings = make_settings(tmp_path, gateway=gateway)
    return quick_start_banner(settings, "news.example.com", "key-1234567890", False, url)


def test_the_banner_says_how_ghost_in_docker_reaches_a_loopback_gateway(tmp_path):
    text = banner(tmp_path, "http://127.0.0.1:3100")
    assert "cannot reach 127.0.0.1" in text and "--host 0.0.0.0" in text
    assert "POSTGATE_GATEWAY__HOST=0.0.0.0" in text and "http://host.docker.internal:3100/v3" in text


def test_the_banner_on_every_interface_names_the_compose_service_and_the_docker_host(tmp_path):
    text = banner(tmp_path, "http://0.0.0.0:3000")
    assert "http://postgate:3000/v3" in text and "http://host.docker.internal:3000/v3" in text
    assert "cannot reach" not in text


def test_the_banner_gives_no_docker_hint_behind_a_public_url(tmp_path):
    text = banner(tmp_path, "http://127.0.0.1:3000", public_url="https://mail.example.com")
    assert "bulkEmail__mailgun__baseUrl=https://mail.example.com/v3" in text
    assert "docker" not in text.lower()
