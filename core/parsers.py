"""Request bodies read so that no body can crash a request: JSON with bounded nesting,
bodies past DATA_UPLOAD_MAX_MEMORY_SIZE refused, and a JSON body that is not an object
refused. Each refusal is an InvalidInput, so it answers in the one error shape
(docs/api.md, "Errors"); the webhooks read their payloads with `json_loads` too."""

from __future__ import annotations

import json
from typing import IO, Any

from django.conf import settings
from rest_framework.parsers import JSONParser

from core.errors import InvalidInput

# No body of docs/api.md, nor any Slack payload we take, nests deeper than about ten.
MAX_JSON_DEPTH = 32


class JSONTooDeep(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed value (a scalar is 0)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        pending.extend((nested, depth + 1) for nested in item)
    return deepest


def json_loads(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` (strict: no NaN or Infinity) that refuses nesting deeper than
    `max_depth` with a ValueError (JSONTooDeep), where the standard parser would run out
    of stack on a body of thousands of brackets."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise JSONTooDeep(f"nested more than {max_depth} levels deep") from None
    if json_depth(value) > max_depth:
        raise JSONTooDeep(f"nested more than {max_depth} levels deep")
    return value


def _too_large() -> InvalidInput:
    return InvalidInput(
        f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
        code="too_large")


def read_bounded(stream: IO[bytes] | None) -> bytes:
    """The whole body, refused (400 too_large) past DATA_UPLOAD_MAX_MEMORY_SIZE."""
    if stream is None:
        return b""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(body) > limit:
        raise _too_large()
    return body


class JSONObjectParser(JSONParser):
    """DRF's JSON parser, bounded. Every JSON body of the API is an object, so anything
    else (a list, a string, a number) is refused here for every endpoint at once."""

    def parse(self, stream: IO[bytes], media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        body = read_bounded(stream)
        try:
            data = json_loads(body.decode(encoding))
        except JSONTooDeep as error:
            raise InvalidInput(f"The JSON body is {error}.") from None
        except (UnicodeDecodeError, ValueError) as error:
            raise InvalidInput(f"JSON parse error - {error}") from None
        if not isinstance(data, dict):
            raise InvalidInput(f"The JSON body must be an object, not {_json_type(data)}.")
        return data


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
