"""Reads of the compliance app."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from compliance.checkpoints import Checkpoint, public_key_fingerprint, signature_valid
from compliance.models import (
    AuditCheckpoint,
    AuditSigningKey,
    AuditVerification,
    ExportJob,
    LegalHold,
    RetentionPolicy,
    SupervisionItem,
    SupervisionPolicy,
)
from core.errors import NotFound
from core.models import GENESIS_HASH, AuditEvent

# The names audit_verify gives what it finds (docs/compliance.md, "Verifying it").
EDITED = "edited row"
GAP = "gap in the sequence"
OUT_OF_SEQUENCE = "out of sequence"
BROKEN_LINK = "broken link"
TRUNCATED = "tail truncated"
RESTARTED = "restarted chain"
BAD_SIGNATURE = "checkpoint signature invalid"


@dataclass(frozen=True)
class ChainBreak:
    event_id: int | None  # None when the finding is about the chain as a whole
    reason: str
    kind: str = EDITED


def audit_chain_verify(*, batch_size: int = 2000, up_to_id: int | None = None,
                       on_progress: Callable[[int], None] | None = None,
                       checkpoint: Checkpoint | None = None, public_key: str | None = None,
                       ) -> tuple[int, ChainBreak | None]:
    """Walk the audit chain in id order (up to `up_to_id`, when given); return rows checked
    and the first break, if any. `on_progress(checked)` hears after each batch. With a
    `checkpoint`, its signature is checked first (with `public_key`, base64, or else the
    organisation's stored key) and the chain must reach it and pass through its head. The
    one verification: `manage.py audit_verify` and the console's (a Celery job) call it."""
    if checkpoint is not None:
        problem = _signature_problem(checkpoint, public_key)
        if problem is not None:
            return 0, problem
    expected_prev, expected_seq, checked = GENESIS_HASH, 1, 0
    first: AuditEvent | None = None
    last: AuditEvent | None = None
    for batch in _batches(batch_size, up_to_id):
        for event in batch:
            first = first or event
            if event.seq != expected_seq or event.prev_hash != expected_prev:
                return checked, _link_break(event, expected_seq)
            if event.compute_hash() != event.hash:
                return checked, ChainBreak(event.id, "its contents do not match its hash")
            if checkpoint and event.seq == checkpoint.seq and event.hash != checkpoint.head_hash:
                return checked, _off_checkpoint(event, first, checkpoint)
            expected_prev, expected_seq, last = event.hash, expected_seq + 1, event
            checked += 1
        if on_progress is not None:
            on_progress(checked)
    if checkpoint is not None and (last.seq if last else 0) < checkpoint.seq:
        return checked, _short_of_checkpoint(first, last, checkpoint)
    return checked, None


def _signature_problem(checkpoint: Checkpoint, public_key: str | None) -> ChainBreak | None:
    if public_key is None:
        key = audit_signing_key_get()
        if key is None:
            return ChainBreak(None, "no organisation key is stored to check the checkpoint "
                                    "with; give its public key (--public-key)", BAD_SIGNATURE)
        public_key = key.public_key
    fingerprint = public_key_fingerprint(base64.b64decode(public_key))
    if checkpoint.key_fingerprint != fingerprint:
        return ChainBreak(None, f"the checkpoint names signing key {checkpoint.key_fingerprint}, "
                                f"not the organisation's ({fingerprint})", BAD_SIGNATURE)
    if not signature_valid(checkpoint, public_key):
        return ChainBreak(None, "the checkpoint's signature does not verify with the "
                                f"organisation's public key ({fingerprint}): it was altered "
                                "or forged", BAD_SIGNATURE)
    return None


def _link_break(event: AuditEvent, expected_seq: int) -> ChainBreak:
    if event.seq == 1 and event.prev_hash == GENESIS_HASH:
        return ChainBreak(event.id, f"a new chain starts here from the genesis after "
                                    f"{expected_seq - 1} events", RESTARTED)
    if event.seq > expected_seq:
        missing = (f"event {expected_seq} is" if event.seq == expected_seq + 1
                   else f"events {expected_seq} to {event.seq - 1} are")
        return ChainBreak(event.id, f"{missing} missing before it (it is number {event.seq})", GAP)
    if event.seq < expected_seq:
        return ChainBreak(event.id, f"its number {event.seq} repeats or goes back (expected "
                                    f"{expected_seq})", OUT_OF_SEQUENCE)
    return ChainBreak(event.id, "its prev_hash does not match the row before it", BROKEN_LINK)


def _restarted(first: AuditEvent | None, checkpoint: Checkpoint) -> bool:
    """The log's first event came after the checkpoint's head, so every event the checkpoint
    covers is gone and the chain began again."""
    return first is not None and (first.id > checkpoint.event_id or first.created_at
                                  > datetime.fromisoformat(checkpoint.created_at))


def _covers(checkpoint: Checkpoint) -> str:
    return (f"the checkpoint of {checkpoint.created_at} covers {checkpoint.count} events up to "
            f"number {checkpoint.seq} (event {checkpoint.event_id})")


def _off_checkpoint(event: AuditEvent, first: AuditEvent, checkpoint: Checkpoint) -> ChainBreak:
    if _restarted(first, checkpoint):
        return ChainBreak(first.id, f"the chain starts again from the genesis at event {first.id}, "
                                    f"but {_covers(checkpoint)}: those events were replaced",
                          RESTARTED)
    return ChainBreak(event.id, f"event number {checkpoint.seq} does not have the hash the "
                                f"checkpoint signed, so the chain after it does not descend from "
                                f"the checkpoint: {_covers(checkpoint)} and its tail was cut and "
                                f"written again", TRUNCATED)


def _short_of_checkpoint(first: AuditEvent | None, last: AuditEvent | None,
                         checkpoint: Checkpoint) -> ChainBreak:
    if last is None:
        return ChainBreak(None, f"the log is empty, but {_covers(checkpoint)}", TRUNCATED)
    if _restarted(first, checkpoint):
        return ChainBreak(first.id if first else None,
                          f"the chain starts again from the genesis at event "
                          f"{first.id if first else '?'}, but {_covers(checkpoint)}: those "
                          f"events were removed", RESTARTED)
    return ChainBreak(None, f"the log ends at number {last.seq} (event {last.id}), but "
                            f"{_covers(checkpoint)}: the last {checkpoint.seq - last.seq} "
                            f"were removed", TRUNCATED)


def audit_signing_key_get() -> AuditSigningKey | None:
    """The organisation's checkpoint key (the first ever made), if one was made."""
    return AuditSigningKey.objects.order_by("id").first()


def audit_checkpoint_latest(*, made_before: datetime | None = None) -> AuditCheckpoint | None:
    checkpoints = AuditCheckpoint.objects.order_by("-seq")
    if made_before is not None:
        checkpoints = checkpoints.filter(created_at__lte=made_before)
    return checkpoints.first()


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


def supervision_policy_list(*, viewer: Any) -> QuerySet:
    """Every policy (compliance officers see them all, to know what is supervised); each
    with its open items counted."""
    from django.db.models import Count, Q

    from compliance.services.holds import require_archive_reader

    require_archive_reader(viewer, "see supervision policies")
    return (SupervisionPolicy.objects.prefetch_related("people", "groups", "reviewers")
            .annotate(open_items=Count("items", filter=Q(items__status="open"))).order_by("name"))


def supervision_queue(*, viewer: Any, policy_id: int | None = None, status: str = "open") -> QuerySet:
    """The items of the policies the viewer reviews, and only those: newest first."""
    from compliance.services.holds import require_archive_reader

    require_archive_reader(viewer, "review supervised messages")
    items = SupervisionItem.objects.filter(policy__reviewers=viewer)
    if policy_id:
        items = items.filter(policy_id=policy_id)
    if status:
        items = items.filter(status=status)
    return (items.select_related("policy", "author", "conversation")
            .prefetch_related("actions__actor").order_by("-created_at", "-id"))
