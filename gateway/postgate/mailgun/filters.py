"""Mailgun filter expressions (events API) parsed into :mod:`postgate.domain` filter trees.

Grammar, loosest binding first: ``a OR b``; ``a AND b`` or just ``a b``; ``NOT a``; ``(…)``,
a ``"quoted phrase"`` or a bare term. Operators are upper case, as Mailgun writes them; a lower
case ``or`` is an ordinary term. Range terms (``>10000``) apply to numeric fields only, and no
field Postgate filters on is numeric, so they are refused with 400.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..domain import And, Filter, Not, Or, Term
from ..errors import BadRequest

#: Query parameters the events API filters on, each naming the ``Term`` field it becomes.
FILTER_FIELDS: dict[str, str] = {
    "event": "event",
    "recipient": "recipient",
    "message-id": "message-id",
    "tags": "tags",
    "severity": "severity",
    "reason": "reason",
    "email-id": "email-id",
}
#: Mailgun filter fields Postgate does not index; asking for them is a 400, not a silent no-op.
UNSUPPORTED_FIELDS = frozenset({"list", "attachment", "from", "subject", "to", "size", "recipients"})
#: Fields whose values Mailgun writes in lower case only.
LOWERCASE_FIELDS = frozenset({"event", "severity", "reason"})
#: Longest expression accepted for one field (the source text travels inside page tokens).
MAX_EXPRESSION = 1000
#: Deepest nesting of parentheses and of ``NOT``s in one expression (the parser recurses).
MAX_DEPTH = 8
#: Most terms in one query, every filter parameter together (each is one SQL condition).
MAX_TERMS = 64
#: Most filter parameters in one query (``event=…&event=…`` repeated counts each time).
MAX_FILTER_PARAMS = 16

OPERATORS = frozenset({"AND", "OR", "NOT"})
TOKEN = re.compile(r'\s+|\(|\)|"[^"]*"|"|[^\s()"]+')
RANGE = re.compile(r"^[<>]=?-?\d+(\.\d+)?$")


def parse_filter(field: str, text: str) -> Filter:
    """Parse the expression ``text`` given for query parameter ``field``."""
    if field in UNSUPPORTED_FIELDS:
        raise BadRequest(f"filtering on '{field}' is not supported")
    if field not in FILTER_FIELDS:
        raise BadRequest(f"'{field}' is not a filter field")
    if len(text) > MAX_EXPRESSION:
        raise BadRequest(f"invalid filter expression for '{field}': longer than {MAX_EXPRESSION} characters")
    parser = _Parser(FILTER_FIELDS[field], field, _tokenize(field, text))
    return parser.parse()


def all_of(filters: Iterable[Filter]) -> Filter | None:
    """AND the filters together (flattened); ``None`` when there are none."""
    parts: list[Filter] = []
    for item in filters:
        parts.extend(item.parts if isinstance(item, And) else (item,))
    if not parts:
        return None
    if sum(count_terms(part) for part in parts) > MAX_TERMS:
        raise BadRequest(f"invalid filter expression: more than {MAX_TERMS} terms in one query")
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def count_terms(node: Filter) -> int:
    """How many terms a filter tree holds (walked without recursion)."""
    count, pending = 0, [node]
    while pending:
        item = pending.pop()
        if isinstance(item, Term):
            count += 1
        elif isinstance(item, Not):
            pending.append(item.part)
        else:
            pending.extend(item.parts)
    return count


def _tokenize(field: str, text: str) -> list[str]:
    """The tokens of ``text``; refuses nesting deeper than :data:`MAX_DEPTH` before any parsing."""
    tokens = []
    parens = nots = terms = 0
    for match in TOKEN.finditer(text):
        token = match.group()
        if token.isspace():
            continue
        if token == '"':
            raise BadRequest(f"invalid filter expression for '{field}': unterminated quote")
        parens += 1 if token == "(" else -1 if token == ")" else 0
        nots = nots + 1 if token == "NOT" else 0 if token != "(" else nots
        terms += token not in OPERATORS and token not in "()"
        if parens > MAX_DEPTH or nots > MAX_DEPTH:
            raise BadRequest(f"invalid filter expression for '{field}': nested deeper than {MAX_DEPTH} levels")
        if terms > MAX_TERMS:
            raise BadRequest(f"invalid filter expression for '{field}': more than {MAX_TERMS} terms")
        tokens.append(token)
    if not tokens:
        raise BadRequest(f"invalid filter expression for '{field}': empty")
    return tokens


class _Parser:
    """Recursive descent over the tokens of one expression."""

    def __init__(self, term_field: str, param: str, tokens: list[str]) -> None:
        self.field = term_field
        self.param = param
        self.tokens = tokens
        self.pos = 0

    def error(self, why: str) -> BadRequest:
        return BadRequest(f"invalid filter expression for '{self.param}': {why}")

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Filter:
        result = self.parse_or()
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek()!r}")
        return result

    def parse_or(self) -> Filter:
        parts = [self.parse_and()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else Or(tuple(_flatten(parts, Or)))

    def parse_and(self) -> Filter:
        parts = [self.parse_not()]
        while self.peek() not in (None, "OR", ")"):
            if self.peek() == "AND":
                self.take()
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else And(tuple(_flatten(parts, And)))

    def parse_not(self) -> Filter:
        if self.peek() == "NOT":
            self.take()
            return Not(self.parse_not())
        return self.parse_primary()

    def parse_primary(self) -> Filter:
        token = self.peek()
        if token is None:
            raise self.error("ends too early")
        if token in OPERATORS or token == ")":
            raise self.error(f"unexpected {token!r}")
        self.take()
        if token == "(":
            inner = self.parse_or()
            if self.peek() != ")":
                raise self.error("unbalanced parentheses")
            self.take()
            return inner
        if token.startswith('"'):
            return self.term(token[1:-1])
        if RANGE.match(token):
            raise self.error(f"range {token!r} is not supported: '{self.param}' is not a numeric field")
        return self.term(token)

    def term(self, value: str) -> Term:
        if self.field in LOWERCASE_FIELDS:
            value = value.lower()
        elif self.field == "message-id":
            value = value.strip().removeprefix("<").removesuffix(">")
        if not value:
            raise self.error("empty term")
        return Term(self.field, value)


def _flatten(parts: list[Filter], kind: type[And] | type[Or]) -> list[Filter]:
    flat: list[Filter] = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, kind) else (part,))
    return flat
