"""Reads of the compliance app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from compliance.models import ExportJob, LegalHold, RetentionPolicy
from core.models import GENESIS_HASH, AuditEvent


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def audit_chain_verify(*, batch_size: int = 2000) -> tuple[int, ChainBreak | None]:
    """Walk the audit chain in id order; return rows checked and the first break, if any."""
    expected_prev = GENESIS_HASH
    checked = 0
    for event in _iterate(batch_size):
        if event.prev_hash != expected_prev:
            return checked, ChainBreak(event.id, "its prev_hash does not match the row before it")
        if event.compute_hash() != event.hash:
            return checked, ChainBreak(event.id, "its contents do not match its hash")
        expected_prev = event.hash
        checked += 1
    return checked, None


def _iterate(batch_size: int) -> Iterator[AuditEvent]:
    last_id = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id


def _require_console(viewer: Any) -> None:
    from compliance.services.holds import require_records_role

    require_records_role(viewer, "use the compliance console")


def audit_event_list(*, viewer: Any, action: str = "", actor: str = "", target_type: str = "",
                     target_id: str = "", since: Any = None, until: Any = None) -> QuerySet:
    _require_console(viewer)
    events = AuditEvent.objects.all()
    if action:
        events = events.filter(action__startswith=action)
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
