"""deploy/systemd: the units parse, carry the hardening options, run the venv's ``postgate`` with
commands the CLI accepts, and (where ``systemd-analyze`` exists, as on the development machines)
pass ``systemd-analyze verify`` and an offline security score of at most 2.0 ("OK")."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy_harness import ROOT

UNITS = ROOT / "deploy" / "systemd"
API_UNIT = "postgate.service"
WORKER_UNIT = "postgate-worker@.service"
VENV_POSTGATE = "/opt/postgate/bin/postgate"  # where install.sh puts it in the image and on a host
HARDENING = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
    "PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes", "RestrictNamespaces": "yes",
    "LockPersonality": "yes", "CapabilityBoundingSet": "", "DynamicUser": "yes",
    "StateDirectory": "postgate",
}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file, each key with every value it is given (systemd allows repeats)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a setting outside any section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    return parse_unit((UNITS / name).read_text())


def one(section: dict[str, list[str]], key: str) -> str:
    values = section.get(key)
    assert values and len(values) == 1, f"{key}: {values}"
    return values[0]


def environment(service: dict[str, list[str]]) -> dict[str, str]:
    env = {}
    for value in service.get("Environment", []):
        for pair in shlex.split(value):
            key, _, item = pair.partition("=")
            env[key] = item
    return env


@pytest.mark.parametrize("name", [API_UNIT, WORKER_UNIT])
def test_units_are_hardened_and_share_one_user_and_state(name):
    service = unit(name)["Service"]
    for key, expected in HARDENING.items():
        assert one(service, key) == expected, f"{name}: {key}"
    assert one(service, "User") == "postgate", "one user name: the API and the workers share a UID"
    assert one(service, "KillSignal") == "SIGTERM"
    assert one(service, "EnvironmentFile").lstrip("-") == "/etc/postgate/postgate.env"
    env = environment(service)
    assert env["POSTGATE_DATA_DIR"] == "/var/lib/postgate" == one(service, "WorkingDirectory")
    assert env["POSTGATE_CONFIG"] == "/etc/postgate/postgate.toml"
    assert "AF_INET" in one(service, "RestrictAddressFamilies").split()
    assert unit(name)["Install"]["WantedBy"] == ["multi-user.target"]


def test_exec_start_runs_the_venv_postgate_api_only_and_workers_apart():
    api = shlex.split(one(unit(API_UNIT)["Service"], "ExecStart"))
    worker_service = unit(WORKER_UNIT)["Service"]
    worker = shlex.split(one(worker_service, "ExecStart"))
    assert api == [VENV_POSTGATE, "serve", "--workers", "0"]
    assert worker == [VENV_POSTGATE, "worker"]
    assert environment(worker_service)["POSTGATE_GATEWAY__MIGRATE_ON_START"] == "false"
    assert "postgate.service" in one(unit(WORKER_UNIT)["Unit"], "After").split()
    assert "%i" in one(unit(WORKER_UNIT)["Unit"], "Description")


@pytest.mark.parametrize("name", [API_UNIT, WORKER_UNIT])
def test_the_cli_accepts_each_exec_start(name):
    args = shlex.split(one(unit(name)["Service"], "ExecStart"))[1:]
    postgate = Path(sys.executable).parent / "postgate"
    done = subprocess.run([str(postgate), *args, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_parse_unit_sees_a_misspelt_hardening_key():
    """The checks above can fail: a typo leaves the key missing."""
    text = (UNITS / API_UNIT).read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    assert "ProtectSystem" not in parse_unit(text)["Service"]


def runnable_copies(tmp_path: Path) -> list[Path]:
    """The units with ExecStart pointed at this checkout's postgate (verify checks that the binary
    exists; /opt/postgate is not installed here), the template as an instance."""
    postgate = str(Path(sys.executable).parent / "postgate")
    copies = []
    for name, target in ((API_UNIT, API_UNIT), (WORKER_UNIT, "postgate-worker@1.service")):
        path = tmp_path / target
        path.write_text((UNITS / name).read_text().replace(VENV_POSTGATE, postgate))
        copies.append(path)
    return copies


def systemd_analyze() -> str | None:
    return shutil.which("systemd-analyze")


@pytest.mark.skipif(systemd_analyze() is None, reason="systemd-analyze is not on this machine; the "
                    "parsing tests above still check the units")
def test_systemd_analyze_verify_finds_nothing(tmp_path):
    copies = runnable_copies(tmp_path)
    done = subprocess.run([systemd_analyze(), "verify", *map(str, copies)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    # And verify does complain about a bad key (what an empty output above rules out).
    bad = tmp_path / "bad.service"
    bad.write_text(copies[0].read_text().replace("ProtectSystem=strict", "ProtectSytem=strict"))
    done = subprocess.run([systemd_analyze(), "verify", str(bad)], capture_output=True, text=True, timeout=120)
    assert "Unknown key" in done.stdout + done.stderr


@pytest.mark.skipif(systemd_analyze() is None, reason="systemd-analyze is not on this machine")
def test_systemd_analyze_security_rates_the_units_ok(tmp_path):
    for path in runnable_copies(tmp_path):
        done = subprocess.run([systemd_analyze(), "security", "--offline=yes", "--threshold=20", str(path)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
