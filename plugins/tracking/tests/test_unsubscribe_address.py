"""The unsubscribe address codec (bounded hypothesis) and the mail built-ins' placeholders."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from postgate import Message
from postgate_tracking.tokens import Signer
from postgate_tracking.unsubscribe import DOMAIN, UnsubscribeClaim, sign
from postgate_tracking.unsubscribe_address import LOCAL_PART_CHARS, local_part, verify_local_part
from postgate_tracking.unsubscribe_links import with_unsubscribe_links

NEW = ("k2", b"second-secret-0123456789")
OLD = ("k1", b"first-secret-0123456789")
SIGNER = Signer([NEW, OLD])
IDS = st.integers(min_value=0, max_value=(1 << 48) - 1)
SCOPES = st.integers(min_value=1, max_value=DOMAIN)
MAIL_DOMAIN = "unsubscribe.news.example.com"


@settings(max_examples=150, deadline=None)
@given(batch_id=IDS, recipient_id=IDS, scope=SCOPES, rendered_at=st.floats(min_value=0, max_value=2**32 - 1))
def test_local_part_round_trip_in_any_case(batch_id, recipient_id, scope, rendered_at) -> None:
    local = local_part(SIGNER, batch_id, recipient_id, scope, rendered_at)
    assert len(local) == LOCAL_PART_CHARS <= 64
    assert re.fullmatch(r"u-[a-z2-7]+", local)
    claim = UnsubscribeClaim(batch_id, recipient_id, scope)
    assert verify_local_part(SIGNER, local) == claim
    assert verify_local_part(SIGNER, local.upper()) == claim
    assert verify_local_part(Signer([OLD, NEW]), local) == claim  # after a rotation: any listed key
    assert verify_local_part(Signer([OLD]), local) is None


@settings(max_examples=150, deadline=None)
@given(batch_id=IDS, recipient_id=IDS, scope=SCOPES, data=st.data())
def test_any_changed_character_is_refused(batch_id, recipient_id, scope, data) -> None:
    local = local_part(SIGNER, batch_id, recipient_id, scope)
    at = data.draw(st.integers(min_value=0, max_value=len(local) - 1))
    other = data.draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz234567-_.+=0189"))
    if other == local[at].lower():
        return
    assert verify_local_part(SIGNER, local[:at] + other + local[at + 1:]) is None


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_is_refused_without_error(text) -> None:
    assert verify_local_part(SIGNER, text) is None
    assert verify_local_part(SIGNER, "u-" + text) is None


def test_a_link_token_is_not_an_address() -> None:
    token = sign(SIGNER, 1, 2, DOMAIN)
    assert verify_local_part(SIGNER, token) is None
    assert verify_local_part(SIGNER, "u-" + token.partition(".")[2].lower()) is None


def ghost_message(header: str) -> Message:
    return Message(domain="mg.example.com", sender="news@mg.example.com", to=["a@example.com"], subject="Hi",
                   text="Leave: %unsubscribe_email%", headers=[("List-Unsubscribe", header)])


def test_mail_built_ins_become_mailto_placeholders_without_one_click() -> None:
    message = ghost_message("<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>")
    changed, used = with_unsubscribe_links(message, None, MAIL_DOMAIN)
    assert used == {"tag_unsubscribe_email", "unsubscribe_email"}
    assert changed.headers == [("List-Unsubscribe", "<%recipient.list_unsubscribe%>, "
                                f"<mailto:%recipient.postgate-unsubscribe-mail-tags%@{MAIL_DOMAIN}>")]
    assert changed.text == f"Leave: mailto:%recipient.postgate-unsubscribe-mail-domain%@{MAIL_DOMAIN}"


def test_without_a_mail_domain_the_mail_built_ins_stay_literal() -> None:
    message = ghost_message("<%unsubscribe_url%>, <%unsubscribe_email%>")
    changed, used = with_unsubscribe_links(message, "https://email.mg.example.com")
    assert used == {"unsubscribe_url"}
    assert changed.headers[0] == ("List-Unsubscribe", "<https://email.mg.example.com/t/u/"
                                  "%recipient.postgate-unsubscribe-domain%>, <%unsubscribe_email%>")
    assert changed.headers[1] == ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    assert changed.text == "Leave: %unsubscribe_email%"
