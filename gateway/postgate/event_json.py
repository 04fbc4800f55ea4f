"""Stored events as the events API's JSON text, spliced rather than parsed and re-encoded.

The API shows an event as :meth:`postgate.domain.Event.to_mailgun` encoded compactly with
non-ASCII characters kept (the app's JSON settings): ``{"id":…,"timestamp":…,<payload's
members>}``, where the payload's own ``event`` member holds the event's kind (as every
:mod:`postgate.events` builder writes it). When the payload is stored in that same encoding
(:func:`canonical_payload`), the object is the stored text with ``id`` and ``timestamp`` put in
front (:func:`splice`), byte for byte what parsing and encoding again would give.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any

from .domain import Event

#: Members the API puts in front of the payload's: a payload holding one is never spliced.
FRONT_MEMBERS = frozenset({"id", "timestamp"})

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(value: Any) -> str:
    """``value`` encoded as the API encodes its answers (compact, non-ASCII kept)."""
    return _encode(value)


def canonical_payload(payload: dict[str, Any], event: str) -> str | None:
    """The payload's text for a row the API may splice, or ``None`` when it cannot be spliced:
    its ``event`` member is not ``event`` (the API would add or change it), it holds ``id`` or
    ``timestamp``, a key is not a string, or a string that UTF-8 cannot hold (a lone
    surrogate, which the caller stores escaped instead)."""
    if payload.get("event") != event or any(type(key) is not str or key in FRONT_MEMBERS for key in payload):
        return None
    text = _encode(payload)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return text


def splice(event_id: str | None, recorded_at: int | None, payload: str) -> str:
    """The API's object for a stored event whose ``payload`` is canonical text."""
    # What the encoder writes for a str and a (finite) float, without its per-call set-up.
    quoted = "null" if event_id is None else encode_basestring(event_id)
    return f'{{"id":{quoted},"timestamp":{float.__repr__((recorded_at or 0) / 1_000_000)},{payload[1:]}'


def mailgun_json(event: Event) -> str:
    """The API's object for any event, through :meth:`Event.to_mailgun`."""
    return _encode(event.to_mailgun())
