"""Reads of the compliance app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from compliance.models import AuditVerification, ExportJob, LegalHold, RetentionPolicy
from core.errors import NotFound
from core.models import GENESIS_HASH, AuditEvent


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def audit_chain_verify(*, batch_size: int = 2000, up_to_id: int | None = None,
                       on_progress: Callable[[int], None] | None = None,
                       ) -> tuple[int, ChainBreak | None]:
    """Walk the audit chain in id order (up to `up_to_id`, when given); return rows checked
    and the first break, if any. `on_progress(checked)` hears after each batch. The one
    verification: `manage.py audit_verify` and the console's (a Celery job) both call it."""
    expected_prev = GENESIS_HASH
    checked = 0
    for batch in _batches(batch_size, up_to_id):
        for event in batch:
            if event.prev_hash != expected_prev:
                return checked, ChainBreak(event.id, "its prev_hash does not match the row before it")
            if event.compute_hash() != event.hash:
                return checked, ChainBreak(event.id, "its contents do not match its hash")
            expected_prev = event.hash
            checked += 1
        if on_progress is not None:
            on_progress(checked)
    return checked, None


def _batches(batch_size: int, up_to_id: int | None) -> Iterator[list[AuditEvent]]:
    last_id = 0
    events = AuditEvent.objects.all()
    if up_to_id is not None:
        events = events.filter(id__lte=up_to_id)
    while True:
        batch = list(events.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return
        yield batch
        last_id = batch[-1].id


def _require_console(viewer: Any) -> None:
    from compliance.services.holds import require_records_role

    require_records_role(viewer, "use the compliance console")


def audit_event_list(*, viewer: Any, action: str = "", actor: str = "", target_type: str = "",
                     target_id: str = "", conversation: int | None = None, since: Any = None,
                     until: Any = None) -> QuerySet:
    """`action` is one action (`message.deleted`) or a whole subject (`message`)."""
    _require_console(viewer)
    events = AuditEvent.objects.all()
    if action and "." in action:
        events = events.filter(action=action)
    elif action:
        events = events.filter(action__startswith=action + ".")
    if conversation:
        events = events.filter(conversation_id=conversation)
    if actor:
        events = events.filter(actor_label__iexact=actor)
    if target_type:
        events = events.filter(target_type=target_type)
    if target_id:
        events = events.filter(target_id=target_id)
    if since:
        events = events.filter(created_at__date__gte=since)
    if until:
        events = events.filter(created_at__date__lte=until)
    return events.order_by("-id")


def audit_verification_list(*, viewer: Any) -> QuerySet:
    _require_console(viewer)
    return AuditVerification.objects.select_related("requested_by").order_by("-id")


def audit_verification_get_for_user(*, viewer: Any, verification_id: int) -> AuditVerification:
    found = audit_verification_list(viewer=viewer).filter(pk=verification_id).first()
    if found is None:
        raise NotFound("No such verification.")
    return found


def export_list(*, viewer: Any) -> QuerySet:
    _require_console(viewer)
    return ExportJob.objects.select_related("requested_by", "subject").order_by("-id")


def legal_hold_list(*, viewer: Any) -> QuerySet:
    _require_console(viewer)
    return LegalHold.objects.prefetch_related("custodians", "conversations").order_by("-id")


def retention_policy_list(*, viewer: Any) -> QuerySet:
    _require_console(viewer)
    return RetentionPolicy.objects.select_related("conversation", "updated_by").order_by(
        "conversation__name")
