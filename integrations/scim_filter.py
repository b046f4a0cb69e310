"""SCIM filters (RFC 7644 §3.4.2.2) turned into Django queries: comparisons (eq, ne, co,
sw, ew, gt, ge, lt, le), `pr`, `and`, `or`, `not (...)` and parentheses, over the
attributes a resource maps. Anything else is refused as `invalidFilter`, naming it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from django.db.models import Q

from core.errors import InvalidInput

_TOKEN = re.compile(r'\s*(?:(?P<lparen>\()|(?P<rparen>\))|(?P<string>"(?:[^"\\]|\\.)*")'
                    r'|(?P<word>[A-Za-z0-9_.:$\[\]-]+))')
OPERATORS = {"eq": "iexact", "ne": "iexact", "co": "icontains", "sw": "istartswith",
             "ew": "iendswith", "gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}

# SCIM attribute (lower case) -> a function making the Q for (lookup, value).
Attributes = dict[str, Callable[[str, object], Q]]


class FilterError(InvalidInput):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, code="invalidFilter")


def _tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise FilterError(f"Cannot read the filter at “{text[position:position + 20]}”.")
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    def __init__(self, text: str, attributes: Attributes) -> None:
        self.tokens = _tokens(text)
        self.position = 0
        self.attributes = attributes

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise FilterError("The filter ends too soon.")
        self.position += 1
        return token

    def parse(self) -> Q:
        query = self._or()
        if self._peek() is not None:
            raise FilterError(f"Unexpected “{self._peek()[1]}” in the filter.")
        return query

    def _or(self) -> Q:
        query = self._and()
        while (token := self._peek()) and token == ("word", token[1]) and token[1].lower() == "or":
            self._take()
            query = query | self._and()
        return query

    def _and(self) -> Q:
        query = self._term()
        while (token := self._peek()) and token[0] == "word" and token[1].lower() == "and":
            self._take()
            query = query & self._term()
        return query

    def _term(self) -> Q:
        kind, value = self._take()
        if kind == "lparen":
            query = self._or()
            if self._take()[0] != "rparen":
                raise FilterError("A parenthesis is not closed.")
            return query
        if kind == "word" and value.lower() == "not":
            if self._take()[0] != "lparen":
                raise FilterError("`not` takes a parenthesised filter.")
            query = self._or()
            if self._take()[0] != "rparen":
                raise FilterError("A parenthesis is not closed.")
            return ~query
        if kind != "word":
            raise FilterError(f"Expected an attribute, not “{value}”.")
        make = self.attributes.get(value.lower())
        if make is None:
            known = ", ".join(sorted(self.attributes))
            raise FilterError(f"Cannot filter on “{value}”; filter on one of: {known}.")
        op_kind, op = self._take()
        op = op.lower()
        if op == "pr":
            return ~make("isnull", True) & ~make("exact", "")
        if op_kind != "word" or op not in OPERATORS:
            raise FilterError(f"“{op}” is not a SCIM comparison (eq, ne, co, sw, ew, gt, ge, lt, le, pr).")
        value_kind, raw = self._take()
        if value_kind == "string":
            literal: object = json.loads(raw)
        elif raw.lower() in ("true", "false"):
            literal = raw.lower() == "true"
        elif raw.lower() == "null":
            literal = None
        elif re.fullmatch(r"-?\d+(\.\d+)?", raw):
            literal = json.loads(raw)
        else:
            raise FilterError(f"“{raw}” is not a value: quote strings.")
        lookup = OPERATORS[op]
        if isinstance(literal, bool) or literal is None:
            if op not in ("eq", "ne"):
                raise FilterError(f"“{op}” does not compare {raw}.")
            lookup = "exact" if literal is not None else "isnull"
            literal = True if literal is None else literal
        query = make(lookup, literal)
        return ~query if op == "ne" else query


def scim_filter(text: str, attributes: Attributes) -> Q:
    if len(text) > 1000:
        raise FilterError("The filter is too long.")
    return _Parser(text, attributes).parse()
