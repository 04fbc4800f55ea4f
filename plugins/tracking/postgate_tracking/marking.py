"""Marking a batch's bodies once: the open pixel and rewritten links, as template placeholders.

Nothing is parsed into a tree and written back: a scanner finds comments, ``<script>``/``<style>``
blocks and ``<a …>`` start tags, and only the ``href`` value of a tracked link changes, so every
other byte (Outlook's conditional comments included) stays as it was. Each tracked link becomes
``<base>/t/c/%recipient.postgate-tracking%<link part N>`` and the pixel
``<base>/t/o/%recipient.postgate-tracking%<open part>.gif``: the link part of a token is the same
for every recipient (see ``tokens``), so it is written into the template once and the renderer
fills one value per recipient, the head of its tokens, however many links the message has.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from .tokens import MAX_LINKS, OPEN_PART, link_part

#: The one placeholder of a recipient's tokens: their head (key id, ids, time, MAC).
HEAD_KEY = "postgate-tracking"

#: What the scanner stops at: comments (conditional ones are scanned inside), raw-text blocks, <a> tags.
_HTML_SPANS = re.compile(
    r"(?P<comment><!--(?!\[if)[\s\S]*?(?:-->|$))"
    r"|(?P<raw><(?P<rawtag>script|style)\b[\s\S]*?(?:</(?P=rawtag)\s*>|$))"
    r"|(?P<a><a(?=[\s/>])(?:[^>\"']|\"[^\"]*\"|'[^']*')*>)",
    re.IGNORECASE,
)
_ATTRIBUTE = re.compile(r"""(?P<name>[^\s"'>/=]+)(?:\s*=\s*(?P<value>"[^"]*"|'[^']*'|[^\s"'>]+))?""")
_TEXT_URL = re.compile(r"https?://[^\s<>\"'\[\]()]+", re.IGNORECASE)
_TRACKABLE = re.compile(r"https?://[^\s]", re.IGNORECASE)
#: A per-recipient or unsubscribe variable: such links are personal and never tracked.
_VARIABLE = re.compile(r"%recipient[._]|%[a-z_]*unsubscribe[a-z_]*%", re.IGNORECASE)
#: Attributes that mark a link as not to be tracked.
NO_TRACK = frozenset({"data-no-track", "data-postgate-no-track"})
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_BODY_START = re.compile(r"<body(?=[\s/>])(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.IGNORECASE)


@dataclass(slots=True)
class Marked:
    """A batch's bodies after marking, and the links in index order (as in the message)."""

    html: str | None
    text: str | None
    links: list[str] = field(default_factory=list)
    opens: bool = False

    def keys(self) -> list[str]:
        """The placeholder keys the renderer must fill."""
        return [HEAD_KEY] if self.opens or self.links else []


class _Links:
    def __init__(self, base_url: str, excluded: set[str]) -> None:
        self.base_url = base_url
        self.excluded = excluded
        self.index: dict[str, int] = {}

    def trackable(self, url: str) -> bool:
        url = url.strip()
        if len(self.index) >= MAX_LINKS and url not in self.index:
            return False  # beyond what a token can index: left as it is
        return bool(_TRACKABLE.match(url)) and not _VARIABLE.search(url) and url not in self.excluded

    def placeholder(self, url: str) -> str:
        index = self.index.setdefault(url.strip(), len(self.index))
        return f"{self.base_url}/t/c/%recipient.{HEAD_KEY}%{link_part(index)}"


def _rewrite_tag(tag: str, links: _Links) -> str:
    """The ``<a …>`` tag with its href replaced, or unchanged when it is not to be tracked."""
    href = None
    for found in _ATTRIBUTE.finditer(tag, 2, len(tag) - 1):
        name = found["name"].lower()
        value = found["value"]
        if name in NO_TRACK or (name == "clicktracking" and value and value.strip("\"'").lower() == "off"):
            return tag
        if name == "href" and href is None and value is not None:
            href = found
    if href is None:
        return tag
    raw = href["value"]
    quote = raw[0] if raw[0] in "\"'" else ""
    url = html.unescape(raw[1:-1] if quote else raw)
    if not links.trackable(url):
        return tag
    start, end = href.span("value")
    return f"{tag[:start]}{quote}{links.placeholder(url)}{quote}{tag[end:]}"


def mark_html(text: str, links: _Links) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["a"] is None:
            return match.group(0)
        return _rewrite_tag(match["a"], links)

    return _HTML_SPANS.sub(replace, text)


def mark_text(text: str, links: _Links) -> str:
    def replace(match: re.Match[str]) -> str:
        url = match.group(0).rstrip(".,;:!?")
        rest = match.group(0)[len(url):]
        return (links.placeholder(url) if links.trackable(url) else url) + rest

    return _TEXT_URL.sub(replace, text)


def pixel(base_url: str) -> str:
    return (f'<img src="{base_url}/t/o/%recipient.{HEAD_KEY}%{OPEN_PART}.gif" width="1" height="1" alt="" '
            f'style="width:1px;height:1px;border:0" />')


def add_pixel(text: str, base_url: str, *, top: bool = False) -> str:
    """The pixel before the last ``</body>``, or at the end when there is none; with ``top``
    (Mailgun's ``o:tracking-pixel-location-top``) right after ``<body …>``, or at the start."""
    if top:
        start = _BODY_START.search(text)
        at = start.end() if start else 0
        return text[:at] + pixel(base_url) + text[at:]
    ends = list(_BODY_END.finditer(text))
    if not ends:
        return text + pixel(base_url)
    at = ends[-1].start()
    return text[:at] + pixel(base_url) + text[at:]


def unsubscribe_urls(list_unsubscribe: str | None) -> set[str]:
    """The ``<…>`` elements of a List-Unsubscribe value: links that are never rewritten."""
    return {element.strip() for element in re.findall(r"<([^>]*)>", list_unsubscribe or "")}


def mark(html_body: str | None, text_body: str | None, *, base_url: str, opens: bool,
         clicks: bool | str, list_unsubscribe: str | None = None, pixel_top: bool = False) -> Marked:
    """Mark a batch's bodies: pixel at the end of the HTML, tracked links in the HTML and, unless
    ``clicks == "htmlonly"``, in the text part."""
    links = _Links(base_url, unsubscribe_urls(list_unsubscribe))
    if clicks and html_body:
        html_body = mark_html(html_body, links)
    if clicks is True and text_body:
        text_body = mark_text(text_body, links)
    with_pixel = bool(opens and html_body is not None)
    if with_pixel:
        html_body = add_pixel(html_body or "", base_url, top=pixel_top)
    return Marked(html_body, text_body, list(links.index), with_pixel)
