"""The suppression audit trail against a live server, on SQLite and on MariaDB: every change made
through the API is recorded once it is committed, with the masked key and the request id;
refused requests record nothing; ``postgate suppressions audit`` reads the trail back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

import postgate_mysql
import postgate_suppression_audit
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, basic_auth
from postgate.testing.mariadb import temporary_database
from postgate_suppression_audit.trail import entries

ROOT = f"/v3/{TEST_DOMAIN}"
KEY_SHOWN = TEST_KEY[:8] + "\u2026"


@pytest.fixture(params=["sqlite", "mysql"])
async def server(request, live_server):
    if request.param == "sqlite":
        yield live_server(plugins=[postgate_suppression_audit], background=False)
        return
    async with temporary_database() as url:
        srv = live_server(plugins=[postgate_mysql, postgate_suppression_audit], background=False,
                          backends={"storage": "mysql"}, plugin_settings={"mysql": {"url": url}})
        yield srv
        srv.stop()  # before the database is dropped


def trail(server, **filters) -> list[dict]:
    rows = server.run(entries(server.gateway, limit=1000, **filters))
    return [{k: row[k] for k in ("action", "domain", "list", "address", "api_key", "request_id", "detail")}
            for row in rows]


def row(action, list_name, address, request_id, detail=""):
    return {"action": action, "domain": TEST_DOMAIN, "list": list_name, "address": address,
            "api_key": KEY_SHOWN, "request_id": request_id, "detail": detail}


def test_api_changes_are_recorded_with_who_and_which_request(server) -> None:
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as http:
        def send(method, path, request_id, **kwargs):
            response = http.request(method, path, headers={"X-Request-Id": request_id}, **kwargs)
            assert response.status_code == 200, response.text
        send("POST", f"{ROOT}/bounces", "req-add", data={"address": "Ann@example.com", "code": "550"})
        send("POST", f"{ROOT}/unsubscribes", "req-json",
             json=[{"address": "bo@example.com", "tags": ["news", "promo"]}, {"address": "cy@example.com"}])
        send("DELETE", f"{ROOT}/unsubscribes/bo@example.com", "req-untag", params={"tag": "news"})
        send("DELETE", f"{ROOT}/bounces/Ann@example.com", "req-delete")
        send("POST", f"{ROOT}/complaints/import", "req-import",
             files={"file": ("c.csv", b"address\ndi@example.com\neve@example.com\n", "text/csv")})
        send("DELETE", f"{ROOT}/whitelists", "req-clear")
        # Refused or failed requests leave no trace.
        assert http.post(f"{ROOT}/bounces", data={"address": "not an address"}).status_code == 400
        assert http.delete(f"{ROOT}/bounces/nobody@example.com").status_code == 404
        assert http.post(f"{ROOT}/bounces", data={"address": "x@example.com"},
                         headers=basic_auth("wrong-key")).status_code == 401
    assert trail(server)[::-1] == [
        row("add", "bounces", "Ann@example.com", "req-add"),
        row("add", "unsubscribes", "bo@example.com", "req-json"),
        row("add", "unsubscribes", "cy@example.com", "req-json"),
        row("untag", "unsubscribes", "bo@example.com", "req-untag", "news"),
        row("delete", "bounces", "Ann@example.com", "req-delete"),
        row("import", "complaints", "di@example.com", "req-import"),
        row("import", "complaints", "eve@example.com", "req-import"),
        row("clear", "whitelists", None, "req-clear"),
    ]
    assert [r["action"] for r in trail(server, address="Ann@example.com")] == ["delete", "add"]
    assert trail(server, domain="other.example.com") == []


def test_the_cli_reads_the_trail(live_server, tmp_path) -> None:
    server = live_server(plugins=[postgate_suppression_audit], background=False)
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as http:
        response = http.post(f"{ROOT}/bounces", data={"address": "zed@example.com"},
                             headers={"X-Request-Id": "req-cli"})
        assert response.status_code == 200
    server.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(POSTGATE_LOAD_PLUGINS='["suppression_audit"]',
               POSTGATE_DATA_DIR=str(server.gateway.settings.data_dir))
    command = [sys.executable, "-m", "postgate", "suppressions", "audit"]
    done = subprocess.run([*command, "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["action"], r["address"], r["request_id"], r["api_key"]) for r in rows] == [
        ("add", "zed@example.com", "req-cli", KEY_SHOWN)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"add    {TEST_DOMAIN} bounces zed@example.com by {KEY_SHOWN} request req-cli" in done.stdout
