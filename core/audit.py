"""Recording into the audit chain: every app's services call audit_record inside the
transaction of the change it records."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from core.models import GENESIS_HASH, AuditEvent

# Any constant shared by every writer of the audit chain; see audit_record.
_AUDIT_CHAIN_LOCK = 7_420_001


def audit_chain_lock() -> None:
    """Hold the audit chain's append lock until the caller's transaction ends (PostgreSQL;
    SQLite serialises writers by itself): the head read next stays the head."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_AUDIT_CHAIN_LOCK])


def audit_record(
    *,
    action: str,
    actor: Any = None,
    target: Any = None,
    target_type: str = "",
    target_id: Any = "",
    conversation_id: int | None = None,
    ip_address: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the audit chain.

    Joins the caller's transaction, so the event commits or rolls back with the change
    it records. On PostgreSQL, appends are serialised with a transaction-level advisory
    lock so two writers never chain onto the same predecessor; SQLite serialises writers
    by itself.
    """
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
    actor_label = ""
    if actor is not None and getattr(actor, "pk", None):
        actor_label = actor.email
    else:
        actor = None
    with transaction.atomic():
        audit_chain_lock()
        last_hash, last_seq = AuditEvent.objects.order_by("-id").values_list(
            "hash", "seq").first() or (GENESIS_HASH, 0)
        event = AuditEvent(
            actor=actor,
            actor_label=actor_label,
            action=action,
            target_type=target_type,
            target_id=str(target_id) if target_id != "" else "",
            conversation_id=conversation_id,
            ip_address=ip_address,
            data=data or {},
            seq=last_seq + 1,
            prev_hash=last_hash,
        )
        event.hash = event.compute_hash()
        event.save(force_insert=True)
    return event
