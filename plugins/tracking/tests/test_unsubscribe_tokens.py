"""Unsubscribe tokens and the per-batch replacement of the unsubscribe built-ins."""

from __future__ import annotations

import binascii

from postgate import Batch, Message, Recipient
from postgate_tracking.tokens import Signer
from postgate_tracking.unsubscribe import DOMAIN, MAILING_LIST, UnsubscribeClaim, sign, tag_scope, verify
from postgate_tracking.unsubscribe_links import add_unsubscribe_links, with_unsubscribe_links

NEW = ("k2", b"second-secret-0123456789")
OLD = ("k1", b"first-secret-0123456789")
BASE = "https://email.mg.example.com"


def test_round_trip_rotation_and_kinds() -> None:
    signer = Signer([NEW, OLD])
    token = sign(signer, 7 << 40, 12345678901, 0b101)
    assert token.startswith("k2.") and len(token) == 3 + 44
    assert verify(signer, token) == UnsubscribeClaim(7 << 40, 12345678901, 0b101)
    old_token = sign(Signer([OLD]), 1, 2, DOMAIN)
    assert verify(signer, old_token) == UnsubscribeClaim(1, 2, DOMAIN)  # the old key still verifies
    assert verify(Signer([NEW]), old_token) is None  # until it is no longer listed
    # An open or click token of the same ids is another kind: neither verifies as the other.
    assert verify(signer, signer.sign("o", 1, 2)) is None and verify(signer, signer.sign("c", 1, 2, 3)) is None
    assert signer.verify("c", sign(signer, 1, 2, 3)) is None


def test_every_changed_byte_is_refused() -> None:
    signer = Signer([NEW])
    token = sign(signer, 3, 4, MAILING_LIST)
    key_id, _, encoded = token.partition(".")
    raw = binascii.a2b_base64(encoded.replace("-", "+").replace("_", "/"))
    for index in range(len(raw)):
        changed = bytearray(raw)
        changed[index] ^= 1
        forged = binascii.b2a_base64(bytes(changed), newline=False).decode().replace("+", "-").replace("/", "_")
        assert verify(signer, f"{key_id}.{forged}") is None, index
    assert verify(signer, token) is not None


def test_tag_scope_names_the_message_tags() -> None:
    assert tag_scope([]) == DOMAIN
    claim = UnsubscribeClaim(1, 1, tag_scope(["a", "b", "c"]))
    assert claim.tags(["a", "b", "c"]) == ["a", "b", "c"]
    assert UnsubscribeClaim(1, 1, 0b10).tags(["a", "b", "c"]) == ["b"]
    assert UnsubscribeClaim(1, 1, DOMAIN).tags(["a"]) == [] == UnsubscribeClaim(1, 1, MAILING_LIST).tags(["a"])


def message(**fields) -> Message:
    return Message(domain="mg.example.com", sender="a@mg.example.com", to=["x@example.com"], **fields)


def test_replacement_leaves_ghost_variables_and_mailto_alone() -> None:
    original = message(html='<a href="%recipient.unsubscribe_url%">g</a><a href="%unsubscribe_url%">u</a>',
                       text="%tag_unsubscribe_url% %unsubscribe_email%",
                       headers=[("List-Unsubscribe", "<%unsubscribe_url%>, <%unsubscribe_email%>")])
    changed, used = with_unsubscribe_links(original, BASE)
    assert used == {"unsubscribe_url", "tag_unsubscribe_url"}
    assert changed.html == (f'<a href="%recipient.unsubscribe_url%">g</a>'
                            f'<a href="{BASE}/t/u/%recipient.postgate-unsubscribe-domain%">u</a>')
    assert changed.text == f"{BASE}/t/u/%recipient.postgate-unsubscribe-tags% %unsubscribe_email%"
    assert changed.headers == [
        ("List-Unsubscribe", f"<{BASE}/t/u/%recipient.postgate-unsubscribe-domain%>, <%unsubscribe_email%>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]
    ghost = message(html="%recipient.unsubscribe_url%",
                    headers=[("List-Unsubscribe", "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>")])
    assert with_unsubscribe_links(ghost, BASE) == (ghost, set())


def recipient(row: int) -> Recipient:
    return Recipient(id=row, batch_id=9, domain="mg.example.com", address=f"r{row}@example.com", name=None,
                     message_id=f"{row}@mg.example.com", variables={}, status="queued")


def test_filler_gives_each_recipient_its_own_tokens() -> None:
    signer = Signer([NEW])
    batch = Batch(id=9, domain="mg.example.com", message_id="m@mg.example.com", response_id="<m>", email_id=None,
                  tags=["t1", "t2"], content=b"", testmode=False, deliver_at=None, created_at=0.0,
                  enqueued=True, accepted_logged=True, recipient_count=2)
    prepared = add_unsubscribe_links(signer, BASE, batch, message(html="%tag_unsubscribe_url%"), None)
    assert prepared is not None and prepared.values is not None
    first, second = prepared.values([recipient(1), recipient(2)])
    assert list(first) == ["postgate-unsubscribe-tags"]
    assert verify(signer, first["postgate-unsubscribe-tags"]) == UnsubscribeClaim(9, 1, 0b11)
    assert verify(signer, second["postgate-unsubscribe-tags"]) == UnsubscribeClaim(9, 2, 0b11)
    assert add_unsubscribe_links(None, BASE, batch, message(html="%unsubscribe_url%"), None) is None


def test_both_token_kinds_share_one_decoder() -> None:
    """Malformed tokens are refused by the one shape check (``tokens.decode``) for every kind."""
    from postgate_tracking.tokens import TOKEN_BYTES, TOKEN_CHARS, decode

    signer = Signer([NEW])
    good = sign(signer, 1, 2, DOMAIN)
    key_id, secret, raw = decode(signer.keys, good)
    assert (key_id, secret, len(raw)) == ("k2", NEW[1], TOKEN_BYTES) and len(good) == 3 + TOKEN_CHARS
    junk = [good + "A", good[:-1], "k9" + good[2:], good.replace(".", ""), good[:-1] + "\u00e9",
            good[:-1] + "=", "k2." + "A" * 17 * 4, "k2.\r\n" + good[5:], "k2." + "\x00" * 44]
    for token in junk:
        assert decode(signer.keys, token) is None, token
        assert verify(signer, token) is None and signer.verify("o", token) is None, token
