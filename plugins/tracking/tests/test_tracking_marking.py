"""Marking a batch's bodies: which links are tracked, and that nothing else changes."""

from __future__ import annotations

import base64
import html as htmlcodec
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from postgate.domain import Recipient
from postgate_tracking.marking import HEAD_KEY, mark
from postgate_tracking.plugin import token_filler
from postgate_tracking.tokens import OPEN_PART, Signer, link_part

BASE = "https://t.example.com"
CLICK = re.compile(re.escape(BASE) + r"/t/c/%recipient\." + HEAD_KEY + r"%([A-Za-z0-9_-]{4})")


def link_index(part: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(part), "big")


def test_only_http_links_without_personal_variables_are_tracked() -> None:
    source = ('<a href="https://a.example/1">a</a><a HREF=https://a.example/2>b</a>'
              '<a href="mailto:x@example.com">m</a><a href="tel:+123">t</a><a href="#top">#</a>'
              '<a href="%recipient.unsubscribe_url%">u</a><a href="https://b.example/?u=%recipient.uuid%">p</a>'
              '<a href="%tag_unsubscribe_url%">tu</a><a data-no-track href="https://c.example/">n</a>'
              '<a clicktracking="off" href="https://c.example/2">n2</a><a href="https://l.example/unsub">l</a>'
              '<a name="x">no href</a><!-- <a href="https://hidden.example/"> -->'
              '<script>var s = "<a href=\'https://js.example/\'>";</script>')
    marked = mark(source, None, base_url=BASE, opens=False, clicks=True,
                  list_unsubscribe="<https://l.example/unsub>, <mailto:u@example.com>")
    assert marked.links == ["https://a.example/1", "https://a.example/2"]
    assert CLICK.sub("X", marked.html or "") == source.replace('"https://a.example/1"', '"X"').replace(
        "https://a.example/2", "X")


def test_the_stored_target_is_html_unescaped_and_repeated_links_share_an_index() -> None:
    marked = mark('<a href="https://a.example/?x=1&amp;y=2&#38;z=3">1</a> <a href="https://a.example/?x=1&amp;y=2&amp;z=3">2</a>',
                  "https://a.example/?x=1&y=2&z=3.", base_url=BASE, opens=False, clicks=True)
    assert marked.links == ["https://a.example/?x=1&y=2&z=3"]
    assert marked.text == f"{BASE}/t/c/%recipient.{HEAD_KEY}%{link_part(0)}."


def test_htmlonly_leaves_the_text_and_the_pixel_goes_before_the_last_body_end() -> None:
    marked = mark("<body><p>x</p></BODY>", "see https://a.example/", base_url=BASE, opens=True, clicks="htmlonly")
    assert marked.text == "see https://a.example/"
    assert marked.html.startswith("<body><p>x</p><img src=\"" + BASE + f"/t/o/%recipient.{HEAD_KEY}%{OPEN_PART}.gif\"")
    assert marked.html.endswith("</BODY>")
    assert mark("<p>no body</p>", None, base_url=BASE, opens=True, clicks=False).html.endswith('border:0" />')
    assert mark(None, "text only", base_url=BASE, opens=True, clicks=False).opens is False


def test_the_pixel_can_go_first_as_mailgun_allows() -> None:
    marked = mark('<html><body class="x" data-a=">">hi</body></html>', None, base_url=BASE, opens=True,
                  clicks=False, pixel_top=True)
    assert marked.html.startswith('<html><body class="x" data-a=">"><img src=')
    assert marked.html.endswith(' />hi</body></html>')


def test_outlook_conditional_comments_stay_byte_identical() -> None:
    outlook = ('<!--[if mso | IE]><table role="presentation" border="0"><tr><td class="" style="width:600px;" >'
               '<v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="https://a.example/" '
               'style="height:40px;" arcsize="10%"><w:anchorlock/></v:roundrect><![endif]-->')
    source = f"<body>{outlook}<a href='https://a.example/'>go</a><!--[if !mso]><!-- -->x<!--<![endif]--></body>"
    marked = mark(source, None, base_url=BASE, opens=False, clicks=True)
    assert outlook in marked.html and "<!--[if !mso]><!-- -->x<!--<![endif]-->" in marked.html
    assert marked.links == ["https://a.example/"]


_TEXT = st.lists(st.sampled_from(
    ["a", " ", ">", "&", ";", "#", '"', "'", "=", "/", "%", ".", "\n", "&amp;", "&lt;", "&#233;", "é",
     "<!--[if mso]><td style='width:1px'><![endif]-->", "<!-- note -->", "<p class='x'>", "</p>"]),
    max_size=10).map("".join)
_URL = st.builds(lambda path, query: f"https://site.example/{path}?{query}",
                 st.text(alphabet="abc/-_", max_size=8), st.text(alphabet="ab=&;#%", max_size=8))
_HREF = re.compile(r"""(<a class=x href=["'])[^"']*(["']>l</a>)""")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_TEXT, _URL, st.sampled_from(['"', "'"]), st.booleans()), max_size=6), _TEXT)
def test_any_html_changes_only_in_tracked_hrefs(pieces, tail) -> None:
    source = ""
    expected_urls = []
    for before, url, quote, escaped in pieces:
        written = htmlcodec.escape(url, quote=False) if escaped else url
        source += f"{before}<a class=x href={quote}{written}{quote}>l</a>"
        expected_urls.append(htmlcodec.unescape(written))
    source += tail
    marked = mark(source, None, base_url=BASE, opens=False, clicks=True)
    # Every byte outside the hrefs is unchanged, and each href leads back to its unescaped URL.
    assert _HREF.sub(r"\1\2", marked.html or "") == _HREF.sub(r"\1\2", source)
    resolved = [marked.links[link_index(part)] for part in CLICK.findall(marked.html or "")]
    assert resolved == expected_urls


def test_one_value_per_recipient_completes_every_token_of_its_message() -> None:
    signer = Signer([("k1", b"first-secret-0123456789")])
    marked = mark('<body><a href="https://a.example/1">1</a><a href="https://a.example/2">2</a></body>',
                  "and https://a.example/3", base_url=BASE, opens=True, clicks=True)
    assert marked.keys() == [HEAD_KEY]
    recipient = Recipient(id=42, batch_id=7, domain="mg.example.com", address="ann@example.com", name=None,
                          message_id="m@mg.example.com", variables={}, status="sending")
    values, = token_filler(signer, 7, marked)([recipient])
    assert list(values) == [HEAD_KEY]
    filled = [(text or "").replace(f"%recipient.{HEAD_KEY}%", values[HEAD_KEY]) for text in (marked.html, marked.text)]
    clicks = re.findall(re.escape(BASE) + r"/t/c/([\w.-]+)", " ".join(filled))
    assert [(c.batch_id, c.recipient_id, c.link) for c in (signer.verify("c", t) for t in clicks)] == [
        (7, 42, 0), (7, 42, 1), (7, 42, 2)]
    pixel = re.search(re.escape(BASE) + r"/t/o/([\w.-]+)\.gif", filled[0]).group(1)
    claim = signer.verify("o", pixel)
    assert claim is not None and (claim.batch_id, claim.recipient_id) == (7, 42)
    assert signer.verify("c", pixel) is None
