"""Client frames: parsing, field readers, and the one `error` frame (docs/realtime.md,
"Errors"). Every refusal is an error of the project's one tree (core.errors), so a
frame refused here and a send a service refuses answer in the same shape."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from core.errors import InvalidInput, TeamchatError

MAX_FRAME_BYTES = 64 * 1024
# No frame of docs/realtime.md nests deeper than a call's signal (about 4).
MAX_DEPTH = 16
# Whatever is stored or compared with a database column fits PostgreSQL's bigint.
MAX_INT = 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def parse(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
    """The frame as a dict with a `type` string; InvalidInput naming the problem."""
    if text_data is None:
        raise InvalidInput("Send JSON text frames, not binary.", code="invalid_frame")
    if len(text_data) > MAX_FRAME_BYTES or len(text_data.encode("utf-8", "surrogatepass")) \
            > MAX_FRAME_BYTES:
        raise InvalidInput(f"A frame may be at most {MAX_FRAME_BYTES} bytes.", code="too_large")
    try:
        frame = json.loads(text_data, parse_constant=_refuse_constant)
    except RecursionError:  # thousands of brackets: Python's parser recurses
        raise _too_deep() from None
    except ValueError:
        raise InvalidInput("The frame is not valid JSON.", code="invalid_json") from None
    if not isinstance(frame, dict):
        raise InvalidInput("A frame must be a JSON object.", code="invalid_frame")
    if not isinstance(frame.get("type"), str):
        raise InvalidInput("A frame needs a 'type' string.", code="invalid_frame")
    for key, value in frame.items():
        if _SURROGATE.search(key):
            raise InvalidInput("A field name holds a lone surrogate; send valid Unicode text.")
        _check_values(key, value)
    return frame


def reference(frame: dict[str, Any] | None, text_data: str | None) -> dict[str, Any]:
    """What an error echoes so the client can match it to its frame: a send's
    client_msg_id, read from the frame, or from the text of one refused whole."""
    if frame is None:
        try:
            frame = json.loads(text_data or "")  # leniently: NaN is no reason not to echo
        except (ValueError, RecursionError):
            return {}
    if not isinstance(frame, dict):
        return {}
    client_msg_id = frame.get("client_msg_id")
    if isinstance(client_msg_id, str) and len(client_msg_id) <= 100 \
            and not _SURROGATE.search(client_msg_id):
        return {"client_msg_id": client_msg_id}
    return {}


def _too_deep() -> InvalidInput:
    return InvalidInput(f"A frame may nest at most {MAX_DEPTH} arrays or objects.",
                        code="invalid_frame")


def _check_values(field: str, value: Any) -> None:
    """Text that UTF-8 cannot hold (a lone surrogate from a "\\ud800" escape), numbers
    no column can hold and nesting past MAX_DEPTH are refused for the whole frame, naming
    its top-level field."""
    pending = [(value, 2)]  # the frame itself is depth 1
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise InvalidInput.of_field(field, f"'{field}' holds a lone surrogate (\\ud800-\\udfff); "
                                     "send valid Unicode text.")
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not -MAX_INT - 1 <= item <= MAX_INT:
                raise InvalidInput.of_field(field, f"'{field}' holds a number past 64-bit integers.")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput.of_field(field, f"'{field}' holds a number out of range.")
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise _too_deep()
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)
                item = item.values()
            pending.extend((nested, depth + 1) for nested in item)




def error_frame(error: TeamchatError, **reference: Any) -> dict[str, Any]:
    """The `error` frame for a refusal; `reference` (a send's client_msg_id, a
    conversation) is echoed so the client can match it."""
    frame: dict[str, Any] = {"type": "error", "code": error.code, "detail": error.detail}
    if error.fields:
        frame["fields"] = error.fields
        if len(error.fields) == 1:
            frame["field"] = next(iter(error.fields))
    if hasattr(error, "retry_after"):
        frame["retry_after"] = error.retry_after
    frame.update(reference)
    return frame
