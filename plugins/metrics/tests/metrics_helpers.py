"""Scraping and reading ``/metrics`` in tests: prometheus-client's own text parser, no regexes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

DOMAIN = "mg.example.com"
SIMULATOR = "simulator.amazonses.com"
TOKEN_ENV = "POSTGATE_TEST_METRICS_TOKEN"
TOKEN = "metrics-token-3f9c1e0b7a"


class Scrape:
    """One parsed exposition: every sample by name, with its labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = list(text_string_to_metric_families(text))
        self.samples = [sample for family in self.families for sample in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples called ``name`` whose labels include ``labels``."""
        return sum(s.value for s in self.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}

    def series_names(self) -> set[str]:
        """Every name a PromQL query may use: sample names, and the names each family type implies."""
        names = {s.name for s in self.samples}
        for family in self.families:
            names |= {
                "counter": {family.name + "_total"},
                "histogram": {family.name + s for s in ("_bucket", "_count", "_sum")},
            }.get(family.type, {family.name})
        return names


def scrape(url: str, token: str | None = None) -> Scrape:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


def wait_for(read: Callable[[], Scrape], done: Callable[[Scrape], bool], timeout: float = 60.0,
             what: str = "the metrics") -> Scrape:
    """Scrape until ``done`` holds (a wait, not a timing assertion: the deadline only ends a hang)."""
    deadline = time.monotonic() + timeout
    while True:
        current = read()
        if done(current):
            return current
        assert time.monotonic() < deadline, f"{what} never got there:\n{current.text}"
        time.sleep(0.2)


def ghost_batch(addresses: list[str], email_id: str = "6740a1b2c3d4e5f6a7b8c9d0") -> dict[str, Any]:
    """A Ghost newsletter batch as Ghost's Mailgun client sends it (field for field, no test mode)."""
    variables = {a: {"name": f"Member {i}", "unsubscribe_url": f"https://blog.example/unsubscribe/?uuid={i:032x}",
                     "list_unsubscribe": f"https://blog.example/unsubscribe/?uuid={i:032x}&key=k"}
                 for i, a in enumerate(addresses)}
    return {
        "to": addresses,
        "from": f"My Blog <noreply@{DOMAIN}>",
        "subject": "Hello %recipient.name%",
        "html": '<p>Hi %recipient.name%</p><a href="%recipient.unsubscribe_url%">unsubscribe</a>',
        "text": "Hi %recipient.name%",
        "recipient-variables": json.dumps(variables),
        "h:Sender": f"My Blog <noreply@{DOMAIN}>",
        "h:Auto-Submitted": "auto-generated",
        "h:List-Unsubscribe": "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>",
        "h:List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "v:email-id": email_id,
        "o:tag": ["ghost-email", "bulk-email"],
        "o:tracking-opens": "yes",
    }
