"""The dashboard's CSV import and the API's import share the core's rules
(``postgate.suppression_csv_batches``): the same files are accepted or refused with the same text,
and an accepted file stores the same entries (both read back through the API)."""

from __future__ import annotations

import io

import httpx
import pytest

import postgate_dashboard
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate_dashboard.web.suppressions_view import EntryError, import_file

ROOT = f"/v3/{TEST_DOMAIN}"

CASES = [
    ("bounces", b"address,code,error\nann@example.com,551,gone\nbo@example.com,,\nANN@example.com,550,again\n"),
    ("bounces", "\ufeffAddress , Code\n\n cy@example.com , 552\n".encode()),
    ("bounces", b"email\nann@example.com\n"),
    ("bounces", b"address\nnot-an-address\n"),
    ("bounces", b"address,code\nann@example.com,5x0\n"),
    ("bounces", b"address\n\xff\xfe@example.com\n"),
    ("unsubscribes", b"address,tags,tag\nann@example.com,\"news, promo\",weekly\nbo@example.com,,\n"),
    ("unsubscribes", b"address,tags\nann@example.com,\"*,news\"\n"),
    ("complaints", b"address,created_at\nann@example.com,\"Fri, 21 Nov 2025 04:59:00 UTC\"\n"),
    ("complaints", b"address,created_at\nann@example.com,yesterday\n"),
    ("whitelists", b"address,domain\nann@example.com,\n,example.net\nbo@example.com,example.org\n"),
    ("whitelists", b"address,domain,reason\nbo@example.com,example.org,partner\ncy@example.com,,staff\n"),
    ("whitelists", b"domain\nnot a domain\n"),
    ("whitelists", b"address\nexample.net\n"),
]


def api_items(client: httpx.Client, list_name: str) -> list[tuple]:
    items = client.get(f"{ROOT}/{list_name}", params={"limit": 1000}).json()["items"]
    return sorted(shape(list_name, item) for item in items)


def shape(list_name: str, item: dict) -> tuple:
    if list_name == "bounces":
        return item["address"], item["code"], item["error"], item["created_at"]
    if list_name == "unsubscribes":
        return item["address"], tuple(item["tags"]), item["created_at"]
    if list_name == "whitelists":
        return item["value"], item["type"], item["reason"]
    return item["address"], item["created_at"]


@pytest.mark.parametrize(("list_name", "data"), CASES)
def test_the_dashboard_imports_as_the_api_does(live_server, list_name: str, data: bytes) -> None:
    server = live_server(plugins=[postgate_dashboard], background=False)
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as client:
        answer = client.post(f"{ROOT}/{list_name}/import", files={"file": ("x.csv", data, "text/csv")})
        assert answer.status_code in (200, 400), answer.text
        by_api = api_items(client, list_name)
        assert client.delete(f"{ROOT}/{list_name}").status_code == 200
        try:
            server.run(import_file(server.gateway, "tester@example.com", TEST_DOMAIN, list_name, io.BytesIO(data)))
        except EntryError as exc:
            assert answer.status_code == 400, f"the API accepted what the dashboard refused: {exc}"
            assert answer.json()["message"] == exc.message
            assert by_api == api_items(client, list_name) == [], "a refused file stores nothing"
            return
        assert answer.status_code == 200, f"the dashboard accepted what the API refused: {answer.text}"
        by_dashboard = api_items(client, list_name)
        assert by_api, "an accepted case stores something"
        if list_name in ("bounces", "unsubscribes", "complaints") and b"created_at" not in data:
            # Both stamp "now", a moment apart: compare without the time.
            by_api, by_dashboard = [s[:-1] for s in by_api], [s[:-1] for s in by_dashboard]
        assert by_dashboard == by_api
