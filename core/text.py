"""Checks on the short texts people and bots are known by: names, titles, topics."""

from __future__ import annotations

import re
from typing import Any

from core.errors import InvalidInput

# C0 controls (line breaks and tabs among them: a name is one line), DEL, C1 controls,
# Unicode's own line and paragraph separators, and lone surrogates (which UTF-8, and so
# PostgreSQL and every email header, cannot hold).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def clean_name(field: str, value: Any) -> str:
    """`value` as text, refused (InvalidInput naming `field`) if it holds a control
    character. Every service that takes a name or a one-line text calls this, before its
    own checks of emptiness and length."""
    text = "" if value is None else str(value)
    if _CONTROL.search(text):
        raise InvalidInput.for_field(
            field, "Must not contain control characters (such as line breaks or tabs).")
    return text


def one_line(text: str) -> str:
    """`text` with every run of control characters and whitespace turned into one space:
    safe in an email header, whatever was stored before names were checked."""
    return " ".join(_CONTROL.sub(" ", text).split())
