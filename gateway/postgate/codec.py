"""Storing a :class:`~postgate.domain.Message` once per batch as compact JSON (storage compresses it)."""

from __future__ import annotations

import base64
import dataclasses
import json

from .domain import Attachment, Batch, Message


def encode_message(message: Message) -> bytes:
    # A shallow field copy: json handles the nested dicts (asdict would deep-copy 1000 of them).
    data = {field.name: getattr(message, field.name) for field in dataclasses.fields(message)}
    data["attachments"] = [
        {**dataclasses.asdict(att), "data": base64.b64encode(att.data).decode("ascii")}
        for att in message.attachments
    ]
    data["mime"] = base64.b64encode(message.mime).decode("ascii") if message.mime is not None else None
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def decode_message(blob: bytes) -> Message:
    data = json.loads(blob)
    data["attachments"] = [
        Attachment(**{**att, "data": base64.b64decode(att["data"])}) for att in data["attachments"]
    ]
    data["headers"] = [tuple(pair) for pair in data["headers"]]
    if data.get("mime") is not None:
        data["mime"] = base64.b64decode(data["mime"])
    return Message(**data)


def batch_message(batch: Batch) -> Message:
    """The message a stored batch was accepted with (public: plugins that build events use it)."""
    return decode_message(batch.content)
