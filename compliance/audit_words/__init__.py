"""Audit events in words, for people reading the console (see registry.py)."""

from compliance.audit_words import describers as _describers  # noqa: F401  registers them all
from compliance.audit_words.registry import (
    GROUPS,
    REGISTRY,
    Names,
    action_choices,
    action_label,
    describe,
    detail_lines,
)

__all__ = ["GROUPS", "REGISTRY", "Names", "action_choices", "action_label", "describe",
           "detail_lines"]
