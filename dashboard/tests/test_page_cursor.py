"""The keyset cursor of the dashboard's page links, one parser for the timeline, the bounce
explorer's recipients, the newsletters list and who opened a send: a damaged one raises the page's
own error (answered with 400), never reaches the storage."""

from __future__ import annotations

import pytest

from postgate_dashboard.web.analytics_view import PeriodError
from postgate_dashboard.web.bounces_view import DrillError
from postgate_dashboard.web.event_reads import CURSOR_MAX, parse_cursor
from postgate_dashboard.web.timeline_view import SearchError, parse_search

DAMAGED = ("x", "1-", "-1", "1-2-3", "1_2", " 1-2", "1-2\n", "1-2 ", "\u0661-\u0662", "+1-2", "1.5-2",
           "9" * 20 + "-1", f"{CURSOR_MAX + 1}-1", f"1-{CURSOR_MAX + 1}", "<script>-1")


@pytest.mark.parametrize("error", [PeriodError, DrillError, SearchError])
@pytest.mark.parametrize("text", DAMAGED)
def test_a_damaged_cursor_raises_the_pages_own_error(error, text) -> None:
    with pytest.raises(error, match="the page link is damaged; start over"):
        parse_cursor(text, error, "start over")


def test_a_cursor_reads_back_as_its_two_numbers() -> None:
    assert parse_cursor(None, PeriodError, "") is None
    assert parse_cursor("", PeriodError, "") is None
    assert parse_cursor("1733356800000000-42", PeriodError, "") == (1733356800000000, 42)
    assert parse_cursor(f"{CURSOR_MAX}-0", PeriodError, "") == (CURSOR_MAX, 0)


def test_the_timeline_search_refuses_a_damaged_cursor_with_its_reason() -> None:
    with pytest.raises(SearchError, match="start the search again"):
        parse_search(["example.com"], {"q": "a@example.com", "after": "1-x"})
    assert parse_search(["example.com"], {"q": "a@example.com", "after": "5-6"}).after == (5, 6)
