"""Mailgun's batch-sending substitution: ``%recipient.KEY%`` and the built-in variables."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .addresses import parse_entry
from .limits import load_json

RECIPIENT_VAR = re.compile(r"%recipient\.([^%\s]+)%")
BUILTIN_VAR = re.compile(
    r"%(recipient|recipient_email|recipient_name|recipient_fname|recipient_lname|unsubscribe_url|"
    r"tag_unsubscribe_url|mailing_list_unsubscribe_url|unsubscribe_email|tag_unsubscribe_email)%"
)
#: Built-ins Postgate cannot expand to a working address; in List-Unsubscribe their element is dropped.
UNSUPPORTED_BUILTINS = ("unsubscribe_email", "tag_unsubscribe_email", "mailing_list_unsubscribe_url")


def scalar(value: Any) -> str:
    """The string form Mailgun inserts for a JSON scalar."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def lookup_variables(recipient_variables: Mapping[str, Any] | None, address: str) -> dict[str, Any]:
    """The recipient's variables: exact key first, then a case-insensitive match."""
    if not recipient_variables:
        return {}
    found = recipient_variables.get(address)
    if found is None:
        lower = address.lower()
        for key, value in recipient_variables.items():
            if key.lower() == lower:
                found = value
                break
    return found if isinstance(found, dict) else {}


class Substituter:
    """Expands variables for one recipient. Missing ``%recipient.KEY%`` stay literal."""

    def __init__(self, entry: str, variables: Mapping[str, Any], builtins: Mapping[str, str] | None = None):
        name, address = parse_entry(entry)
        first, _, last = name.partition(" ")
        self.variables = variables
        self.builtins = {
            "recipient": entry if name else address,
            "recipient_email": address,
            "recipient_name": name,
            "recipient_fname": first,
            "recipient_lname": last,
            **(builtins or {}),
        }

    def __call__(self, text: str | None) -> str | None:
        if not text or "%" not in text:
            return text

        def recipient(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in self.variables:
                return scalar(self.variables[key])
            return match.group(0)

        def builtin(match: re.Match[str]) -> str:
            value = self.builtins.get(match.group(1))
            return match.group(0) if value is None else value

        return BUILTIN_VAR.sub(builtin, RECIPIENT_VAR.sub(recipient, text))

    def list_unsubscribe(self, value: str) -> str:
        """Expand a ``List-Unsubscribe`` value, dropping elements Postgate cannot honour."""
        kept = []
        for element in re.findall(r"<[^>]*>", value) or [value]:
            if any(f"%{name}%" in element and name not in self.builtins for name in UNSUPPORTED_BUILTINS):
                continue
            expanded = self(element) or ""
            if expanded.strip("<> "):
                kept.append(expanded)
        return ", ".join(kept)


def user_variables(variables: Mapping[str, str], header: str | None,
                   substitute: Substituter) -> dict[str, str]:
    """A recipient's ``user-variables``: the ``h:X-Mailgun-Variables`` JSON object (if any)
    merged under the ``v:`` values, every value substituted for the recipient, as strings."""
    merged: dict[str, str] = {}
    if header:
        try:
            extra = load_json(substitute(header) or "")
        except ValueError:
            extra = None
        if isinstance(extra, dict):
            merged.update({str(key): scalar(value) for key, value in extra.items()})
    for key, value in variables.items():
        merged[key] = substitute(scalar(value)) or ""
    return merged


def recipient_entry(name: str | None, address: str) -> str:
    """The ``Name <addr>`` form of a ledger recipient (bare address without a name)."""
    if not name:
        return address
    if any(ch in name for ch in '()<>@,;:\\".[]'):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'
    return f"{name} <{address}>"
