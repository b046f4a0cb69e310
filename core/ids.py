"""Ids from a client: an int the database can hold, or the caller's error."""

from __future__ import annotations

from typing import Any

from core.errors import TeamchatError


def row_id(value: Any, refusal: TeamchatError) -> int:
    """`value` as a row id (a positive 64-bit int); `refusal` is raised for anything else
    (not a number, or past any id the database holds)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise refusal from None
    if not 0 < number < 2**63:
        raise refusal
    return number
