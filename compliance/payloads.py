"""Audit events and checkpoints as JSON: the one shape of the audit-log API
(`GET /api/v1/audit/events/`) and of the SIEM stream's records."""

from __future__ import annotations

from typing import Any

from compliance.checkpoints import Checkpoint
from core.models import AuditEvent


def audit_event_payload(event: AuditEvent) -> dict[str, Any]:
    """Every field the event's hash covers, under the names it covers them by, with its place
    in the chain: whoever holds consecutive events can check their hashes themselves."""
    return {"seq": event.seq, "id": event.id, **event.canonical(),
            "prev_hash": event.prev_hash, "hash": event.hash}


def audit_event_record(event: AuditEvent) -> dict[str, Any]:
    return {"type": "audit.event", **audit_event_payload(event)}


def audit_checkpoint_record(checkpoint: Checkpoint) -> dict[str, Any]:
    return {"type": "audit.checkpoint", **checkpoint.as_dict()}
