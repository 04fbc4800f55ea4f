"""The ``dashboard_pages`` hook: a plugin's page nested in the dashboard behind its sign-in, CSRF
check and headers, in its navigation and layout; names checked; the hook documented; the
dashboard importing no plugin that uses it."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import httpx
import pytest
from jinja2 import DictLoader
from quart import Blueprint, request

import postgate_dashboard
from postgate import hookimpl
from postgate.testing.fixtures import free_port
from postgate_dashboard.page_hooks import DashboardPageHooks
from postgate_dashboard.web.accounts import create_user
from postgate_dashboard.web.plugin_pages import PageError, PluginPages

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[2]
NOTES = """{% extends "base.html" %}{% block main %}<h1>Notes</h1><ul id="notes">{% for n in notes %}<li>{{ n }}</li>{% endfor %}</ul>
<form method="post"><input type="hidden" name="csrf_token" value="{{ csrf_token }}"><input name="note"><button>Add</button></form>
<p id="who">{{ account.email }}</p>{% endblock %}"""


class NotesPlugin:
    """A plugin page: a list anyone signed in reads and adds to."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    @hookimpl(optionalhook=True)
    def dashboard_pages(self, gateway, pages):
        bp = Blueprint("notes", __name__)

        @bp.route("/notes", methods=["GET", "POST"])
        async def notes():
            if request.method == "POST":
                self.notes.append((await request.form).get("note", ""))
            return await pages.render("notes/list.html", notes=self.notes)

        pages.add(bp, nav=[("Notes", "notes")], templates=DictLoader({"list.html": NOTES}))


@pytest.fixture
def server(live_server):
    plugin = NotesPlugin()
    srv = live_server(plugins=[postgate_dashboard, plugin],
                      plugin_settings={"dashboard": {"cookie_secure": False}})
    srv.run(create_user(srv.gateway, "ops@example.com", PASSWORD, "viewer"))
    srv.notes = plugin
    return srv


def signed_in_client(server) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/login").text).group(1)
    done = client.post("/dashboard/login", data={"email": "ops@example.com", "password": PASSWORD, "csrf_token": token})
    assert done.status_code == 303, done.text
    return client


def test_a_plugin_page_is_served_behind_the_dashboards_checks(server) -> None:
    answer = httpx.get(f"{server.url}/dashboard/notes", follow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"].endswith("/dashboard/login")
    assert httpx.post(f"{server.url}/dashboard/notes", data={"note": "x"}, timeout=30).status_code == 403

    client = signed_in_client(server)
    page = client.get("/dashboard/notes")
    assert page.status_code == 200, page.text
    assert '<a href="/dashboard/notes" aria-current="page">Notes</a>' in page.text
    assert 'id="who">ops@example.com<' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["server-timing"].startswith("app;dur=")
    # Elsewhere the link is there, not current.
    assert '<a href="/dashboard/notes">Notes</a>' in client.get("/dashboard/operations").text

    refused = client.post("/dashboard/notes", data={"note": "no token"})
    assert refused.status_code == 403 and server.notes.notes == []
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    added = client.post("/dashboard/notes", data={"note": "<b>bold</b>", "csrf_token": token})
    assert added.status_code == 200 and "<li>&lt;b&gt;bold&lt;/b&gt;</li>" in added.text
    assert client.get("/dashboard/notes/nope").status_code == 404


def test_page_names_are_checked() -> None:
    async def render(*args, **kwargs):
        raise AssertionError("not called")

    pages = PluginPages("dashboard", render)
    pages.add(Blueprint("queues", __name__))
    for name in ("queues", "static", "Bad-Name", "a" * 40):
        with pytest.raises(PageError):
            pages.add(Blueprint(name, __name__))
    assert pages.serves("dashboard.queues") and not pages.serves("dashboard") and not pages.serves(None)


def test_the_hook_is_documented_with_its_signature() -> None:
    params = [p for p in inspect.signature(DashboardPageHooks.dashboard_pages).parameters if p != "self"]
    heading = f"### `dashboard_pages({', '.join(params)})`"
    assert heading in (ROOT / "docs" / "dashboard.md").read_text()
    assert "`dashboard_pages(gateway, pages)`" in (ROOT / "docs" / "plugin_hooks.md").read_text()


def test_the_dashboard_imports_no_plugin_that_adds_pages() -> None:
    package = Path(postgate_dashboard.__file__).parent
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.startswith("postgate_webhooks") for n in names), source


def test_a_plugin_page_follows_the_dashboard_onto_its_own_listener(live_server) -> None:
    port = free_port()
    server = live_server(plugins=[postgate_dashboard, NotesPlugin()],
                         plugin_settings={"dashboard": {"listen": f"127.0.0.1:{port}"}})
    assert httpx.get(f"{server.url}/dashboard/notes", timeout=30).status_code == 404  # not on the API's listener
    answer = httpx.get(f"http://127.0.0.1:{port}/dashboard/notes", follow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"].endswith("/dashboard/login")
