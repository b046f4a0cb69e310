"""Retention: delete what policy says is old enough, in bounded batches, never what a
legal hold preserves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import User
from compliance.models import RetentionPolicy
from compliance.services.holds import held_messages_q, require_records_role
from core.audit import audit_record
from core.errors import InvalidInput, NotFound

BATCH_SIZE = 1000
MAX_KEEP_DAYS = 365 * 100


@dataclass
class RetentionReport:
    dry_run: bool
    messages: int = 0
    revisions: int = 0
    files: int = 0
    held: int = 0
    by_conversation: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "messages": self.messages, "revisions": self.revisions,
                "files": self.files, "held": self.held,
                "by_conversation": {str(k): v for k, v in self.by_conversation.items()}}


def retention_policy_set(*, actor: User, keep_days: Any, conversation_id: Any = None
                         ) -> RetentionPolicy:
    """Set the organisation default (no conversation) or a conversation's own rule.
    keep_days None keeps forever."""
    from messaging.models import Conversation

    require_records_role(actor, "set retention policies")
    if keep_days in ("", None):
        keep_days = None
    else:
        try:
            keep_days = int(keep_days)
        except (TypeError, ValueError):
            raise InvalidInput.for_field("keep_days", "A number of days, or empty for forever.") from None
        if not 1 <= keep_days <= MAX_KEEP_DAYS:
            raise InvalidInput.for_field("keep_days", f"Between 1 and {MAX_KEEP_DAYS} days.")
    conversation = None
    if conversation_id not in (None, ""):
        conversation = Conversation.objects.filter(pk=conversation_id).first()
        if conversation is None:
            raise NotFound("No such conversation.")
    with transaction.atomic():
        policy, _ = RetentionPolicy.objects.select_for_update().get_or_create(conversation=conversation)
        before = policy.keep_days
        policy.keep_days = keep_days
        policy.updated_at = timezone.now()
        policy.updated_by = actor
        policy.save()
        audit_record(action="retention.policy_set", actor=actor, target=policy,
                     conversation_id=conversation.pk if conversation else None,
                     data={"keep_days": keep_days, "before": before,
                           "scope": "conversation" if conversation else "organisation"})
    return policy


def retention_policy_clear(*, actor: User, conversation_id: Any) -> None:
    """Let a conversation follow the organisation's default again."""
    require_records_role(actor, "set retention policies")
    with transaction.atomic():
        deleted, _ = RetentionPolicy.objects.filter(conversation_id=conversation_id).delete()
        if deleted:
            audit_record(action="retention.policy_cleared", actor=actor,
                         conversation_id=int(conversation_id), data={})


def _expired_q(now: datetime) -> Q:
    """Messages past their conversation's rule, or the organisation's default."""
    from messaging.models import Conversation

    default = RetentionPolicy.objects.filter(conversation__isnull=True).first()
    own = {p.conversation_id: p.keep_days for p in RetentionPolicy.objects.filter(
        conversation__isnull=False)}
    expired = Q(pk__in=[])
    for conversation_id, keep_days in own.items():
        if keep_days is not None:
            expired |= Q(conversation_id=conversation_id,
                         created_at__lt=now - timedelta(days=keep_days))
    if default is not None and default.keep_days is not None:
        following = Conversation.objects.exclude(pk__in=list(own)).values("pk")
        expired |= Q(conversation_id__in=following,
                     created_at__lt=now - timedelta(days=default.keep_days))
    return expired


def retention_apply(*, actor: User | None = None, dry_run: bool = False,
                    now: datetime | None = None, batch_size: int = BATCH_SIZE,
                    max_batches: int | None = None) -> RetentionReport:
    """Delete expired messages with their revisions and files, batch by batch, leaving
    everything under a legal hold. A dry run counts what would go and changes nothing."""
    from files.services import attachment_delete
    from messaging.models import Message, MessageRevision

    now = now or timezone.now()
    report = RetentionReport(dry_run=dry_run)
    expired = Message.objects.filter(_expired_q(now))
    held = held_messages_q(now)
    report.held = expired.filter(held).count()
    removable = expired.exclude(held)
    # A thread's first message stays while any reply of it stays (replies are younger).
    staying_replies = Message.objects.filter(thread_root__isnull=False).exclude(
        pk__in=removable.values("pk")).values("thread_root_id")
    removable = removable.exclude(pk__in=staying_replies)
    if dry_run:
        report.messages = removable.count()
        report.revisions = MessageRevision.objects.filter(message__in=removable).count()
        from files.models import Attachment

        report.files = Attachment.objects.filter(message__in=removable).count()
        for row in removable.values("conversation_id").order_by().annotate(n=Count("id")):
            report.by_conversation[row["conversation_id"]] = row["n"]
    else:
        batches = 0
        while max_batches is None or batches < max_batches:
            with transaction.atomic():
                ids = list(removable.order_by("id").values_list("id", flat=True)[:batch_size])
                if not ids:
                    break
                from files.models import Attachment

                for attachment in Attachment.objects.filter(message_id__in=ids):
                    attachment_delete(attachment=attachment)
                    report.files += 1
                report.revisions += MessageRevision.objects.filter(message_id__in=ids).count()
                for conversation_id in Message.objects.filter(pk__in=ids).values_list(
                        "conversation_id", flat=True):
                    report.by_conversation[conversation_id] = (
                        report.by_conversation.get(conversation_id, 0) + 1)
                Message.objects.filter(pk__in=ids).delete()
                report.messages += len(ids)
            batches += 1
    audit_record(action="retention.dry_run" if dry_run else "retention.applied", actor=actor,
                 data=report.as_dict())
    return report
