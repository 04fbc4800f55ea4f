"""The Mailgun webhooks API against a live gateway: the official Python SDK and mailgun.js
manage webhooks unmodified (v3 and the SDK's v4 routing), the account's signing key reads and
rotates, and hostile or internal URLs are refused in Mailgun's error shape."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from mailgun.client import Client

from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY
from webhook_helpers import Receiver, api, check_concurrent_changes, check_test_route_logs, webhook_server

NODE_SCRIPT = Path(__file__).with_name("webhooks_mailgun_js.js")
HOOK = "https://hooks.example.com"  # resolves nowhere, so the configuration-time check lets it through


@pytest.fixture
def server(live_server):
    return webhook_server(live_server, background=False, allow_private_targets=False)


def test_python_sdk_manages_webhooks_and_the_v4_form_works(server) -> None:
    with Client(auth=("api", TEST_KEY), api_url=server.url) as sdk:
        created = sdk.domains_webhooks.create(domain=TEST_DOMAIN, data={"id": "clicked", "url": [f"{HOOK}/a"]})
        assert created.status_code == 200, created.text
        assert created.json() == {"message": "Webhook has been created", "webhook": {"urls": [f"{HOOK}/a"]}}
        again = sdk.domains_webhooks.create(domain=TEST_DOMAIN, data={"id": "clicked", "url": [f"{HOOK}/b"]})
        assert again.status_code == 400 and again.json() == {"message": "Webhook already exists"}

        updated = sdk.domains_webhooks.put(domain=TEST_DOMAIN, webhook_name="clicked",
                                           data=[("url", f"{HOOK}/a"), ("url", f"{HOOK}/b")])
        assert updated.json() == {"message": "Webhook has been updated", "webhook": {"urls": [f"{HOOK}/a", f"{HOOK}/b"]}}
        one = sdk.domains_webhooks.get(domain=TEST_DOMAIN, webhook_name="clicked")
        assert one.json() == {"webhook": {"urls": [f"{HOOK}/a", f"{HOOK}/b"]}}

    # The v4 form (one URL for several webhooks), as documented: the SDK 1.x never routes there.
    with api(server) as http:
        v4 = http.post(f"/v4/domains/{TEST_DOMAIN}/webhooks",
                       data={"url": f"{HOOK}/all", "event_types": ["delivered", "clicked"]})
        assert v4.status_code == 200, v4.text
        assert v4.json() == {"webhooks": {"delivered": {"urls": [f"{HOOK}/all"]},
                                          "clicked": {"urls": [f"{HOOK}/a", f"{HOOK}/b", f"{HOOK}/all"]}}}
        full = http.post(f"/v4/domains/{TEST_DOMAIN}/webhooks", data={"url": f"{HOOK}/four", "event_types": "clicked"})
        assert full.status_code == 400 and "at most 3" in full.json()["message"]
        moved = http.put(f"/v4/domains/{TEST_DOMAIN}/webhooks", data={"url": f"{HOOK}/all", "event_types": ["opened"]})
        assert moved.json()["webhooks"] == {"opened": {"urls": [f"{HOOK}/all"]},
                                            "clicked": {"urls": [f"{HOOK}/a", f"{HOOK}/b"]}}
        gone = http.delete(f"/v4/domains/{TEST_DOMAIN}/webhooks", params={"url": f"{HOOK}/all"})
        assert gone.json() == {"webhooks": {"clicked": {"urls": [f"{HOOK}/a", f"{HOOK}/b"]}}}

    with Client(auth=("api", TEST_KEY), api_url=server.url) as sdk:
        listed = sdk.domains_webhooks.get(domain=TEST_DOMAIN)
        assert listed.json() == {"webhooks": {"clicked": {"urls": [f"{HOOK}/a", f"{HOOK}/b"]}}}
        deleted = sdk.domains_webhooks.delete(domain=TEST_DOMAIN, webhook_name="clicked")
        assert deleted.json() == {"message": "Webhook has been deleted", "webhook": {"urls": [f"{HOOK}/a", f"{HOOK}/b"]}}
        missing = sdk.domains_webhooks.get(domain=TEST_DOMAIN, webhook_name="clicked")
        assert missing.status_code == 404 and missing.json() == {"message": "Webhook not found"}


def test_mailgun_js_manages_webhooks(live_server) -> None:
    node = shutil.which("node") or "/usr/bin/node"
    receiver = Receiver()
    try:
        server = webhook_server(live_server, background=False)
        hook = receiver.url("")
        done = subprocess.run([node, str(NODE_SCRIPT)], input=json.dumps(
            {"url": server.url, "key": TEST_KEY, "domain": TEST_DOMAIN, "hook": hook}),
            capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        created, updated, got, clicks, listed, tested, destroyed, missing, refused = json.loads(done.stdout)
        assert created["value"] == {"id": "delivered", "url": f"{hook}/one", "urls": [f"{hook}/one"]}
        assert updated["value"]["urls"] == [f"{hook}/one", f"{hook}/two"]
        assert got["value"] == {"id": "delivered", "url": f"{hook}/one", "urls": [f"{hook}/one", f"{hook}/two"]}
        assert clicks["ok"]
        assert listed["value"] == {"delivered": {"urls": [f"{hook}/one", f"{hook}/two"]},
                                   "clicked": {"urls": [f"{hook}/clicks"]}}
        assert tested["value"] == {"code": 200, "message": "Test webhook sent"}
        [sample] = receiver.to("/test")
        assert sample.body["event-data"]["event"] == "opened"
        assert destroyed["value"]["urls"] == [f"{hook}/clicks"]
        assert missing["ok"] is False and missing["status"] == 404
        assert refused["ok"] is False and refused["status"] == 400
    finally:
        receiver.close()


def test_the_test_route_logs_each_sample_post_as_a_test(live_server) -> None:
    receiver = Receiver()
    try:
        check_test_route_logs(webhook_server(live_server, background=False, timeout_seconds=1), receiver, 1)
    finally:
        receiver.close()


def test_concurrent_changes_neither_mix_nor_pass_three_urls(server) -> None:
    check_concurrent_changes(server)


def test_signing_key_is_made_once_and_rotates(server) -> None:
    with api(server) as http:
        first = http.get("/v5/accounts/http_signing_key")
        assert first.status_code == 200
        key = first.json()["http_signing_key"]
        assert key.startswith("key-") and len(key) == 36
        assert http.get("/v5/accounts/http_signing_key").json() == {"http_signing_key": key}
        rotated = http.post("/v5/accounts/http_signing_key").json()
        assert rotated["message"] == "regenerated HTTP signing key for account"
        assert rotated["http_signing_key"] != key
        assert http.get("/v5/accounts/http_signing_key").json()["http_signing_key"] == rotated["http_signing_key"]
        assert http.get("/v5/accounts/http_signing_key", headers={"Authorization": ""}).status_code == 401


HOSTILE = [
    "https://example.com/a\r\nX-Injected: 1",
    "https://example.com/\x00",
    "https://example.com/\u2028",
    "https://exämple.com/",
    "https://example.com/" + "a" * 3000,
    "ftp://example.com/x",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "//example.com/no-scheme",
    "https://",
    "https://example.com:99999/",
    "https://example.com:0/",
    "http://[::1/",
    "",
]
INTERNAL = [
    "http://127.0.0.1/x", "http://localhost:8080/", "http://10.1.2.3/", "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/",
    "http://100.64.0.1/", "http://[fe80::1]/", "http://172.16.0.1/",
]


@pytest.mark.parametrize("url", HOSTILE + INTERNAL)
def test_hostile_and_internal_urls_are_refused(server, url) -> None:
    with api(server) as http:
        created = http.post(f"/v3/domains/{TEST_DOMAIN}/webhooks", data={"id": "delivered", "url": url})
        assert created.status_code == 400, created.text
        assert set(created.json()) == {"message"}
        v4 = http.post(f"/v4/domains/{TEST_DOMAIN}/webhooks", data={"url": url, "event_types": "opened"})
        assert v4.status_code == 400 and set(v4.json()) == {"message"}
        assert http.get(f"/v3/domains/{TEST_DOMAIN}/webhooks").json() == {"webhooks": {}}


def test_other_bad_requests_answer_in_mailguns_shape(server) -> None:
    with api(server) as http:
        def refused(method, path, **kwargs) -> str:
            response = http.request(method, path, **kwargs)
            assert response.status_code in (400, 404), response.text
            assert set(response.json()) == {"message"}
            return response.json()["message"]

        root = f"/v3/domains/{TEST_DOMAIN}/webhooks"
        assert refused("POST", root, data={"url": f"{HOOK}/x"}) == "Missing required parameter: id"
        assert "Invalid webhook name" in refused("POST", root, data={"id": "bounce\r\n", "url": f"{HOOK}/x"})
        assert refused("POST", root, data={"id": "opened"}) == "Missing required parameter: url"
        assert "at most 3" in refused("POST", root, data={"id": "opened", "url": [f"{HOOK}/{i}" for i in range(4)]})
        assert "Invalid webhook name" in refused("GET", f"{root}/no_such_hook")
        assert refused("DELETE", f"{root}/opened") == "Webhook not found"
        assert refused("POST", f"/v4/domains/{TEST_DOMAIN}/webhooks", data={"url": f"{HOOK}/x"}) == \
            "Missing required parameter: event_types"
        assert refused("DELETE", f"/v4/domains/{TEST_DOMAIN}/webhooks") == "Missing required parameter: url"
        assert "Domain not found" in refused("GET", "/v3/domains/other.example/webhooks")
        assert http.post(root, json={"id": "opened", "url": [f"{HOOK}/json"]}).status_code == 200
