"""Mailgun's sending routes: ``POST /v3/<domain>/messages`` and ``/messages.mime``."""

from __future__ import annotations

from collections.abc import Callable

from quart import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..domain import Message
from ..errors import TooLarge
from ..web import current_gateway
from .message_form import check_content_type, parse_message, parse_mime_message
from .parsing import read_fields

QUEUED = "Queued. Thank you."
#: Mailgun's limit on one message: every field and attachment of the send call together.
MAX_MESSAGE_BYTES = 25 * 1024 * 1024

Parser = Callable[..., Message]


async def accept_with(parse: Parser, domain: str):
    """Read the body, build the message with ``parse``, hand it to the gateway, answer Mailgun's way."""
    try:
        fields, files = await read_fields()
    except RequestEntityTooLarge:
        limit = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
        parts = current_app.config["MAX_FORM_PARTS"]
        raise TooLarge(
            f"Request too large: the limit is {limit:g} MB and {parts} form parts per request"
        ) from None
    if message_size(fields, files) > MAX_MESSAGE_BYTES:
        raise TooLarge(f"Request too large: a message may hold at most {MAX_MESSAGE_BYTES // (1024 * 1024)} MB")
    check_content_type(request.mimetype, fields)
    message = parse(fields, files, domain.lower())
    message_id = await current_gateway().accept(message)
    return jsonify({"id": message_id, "message": QUEUED})


def message_size(fields, files) -> int:
    """Bytes of every field value and uploaded file of a send call (files are measured, not read)."""
    size = sum(len(value.encode("utf-8", "surrogatepass")) for _, value in fields.items(multi=True))
    for _, upload in files.items(multi=True):
        stream = upload.stream
        position = stream.tell()
        size += stream.seek(0, 2) - position
        stream.seek(position)
    return size


async def send_message(domain: str):
    """``POST /v3/<domain>/messages``: fields in, ``{"id", "message"}`` out."""
    return await accept_with(parse_message, domain)


async def send_mime(domain: str):
    """``POST /v3/<domain>/messages.mime``: envelope ``to`` and a raw MIME ``message`` file."""
    return await accept_with(parse_mime_message, domain)


def add_routes(bp: Blueprint) -> None:
    """Add the sending routes to the Mailgun blueprint."""
    bp.add_url_rule("/v3/<domain>/messages", "send_message", send_message, methods=["POST"])
    bp.add_url_rule("/v3/<domain>/messages.mime", "send_mime", send_mime, methods=["POST"])
