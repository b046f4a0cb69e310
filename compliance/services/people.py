"""Data-subject requests: export everything about a person, or erase them."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, Role, User
from compliance.models import ExportFormat, ExportJob, SupervisionItem
from compliance.services.exports import export_start
from compliance.services.holds import held_messages_q
from core.audit import audit_record
from core.errors import Conflict, Forbidden


def subject_export_start(*, actor: User, subject: User, with_files: bool = True) -> ExportJob:
    """Everything about one person: their profile and every message they wrote."""
    job = export_start(actor=actor, format=ExportFormat.JSONL, with_files=with_files,
                       subject=subject)
    audit_record(action="data_subject.export_requested", actor=actor, target=subject,
                 data={"export": job.pk})
    return job


def user_erase(*, actor: User, user: User, remove_messages: bool = False) -> dict[str, Any]:
    """Erase a person: their profile is anonymised, their account closed. Their messages
    stay (retention decides when they go) unless `remove_messages`, and then only those
    no legal hold preserves."""
    from accounts.services import sessions_end
    from messaging.models import (
        ActivityState,
        Draft,
        Message,
        PendingNotification,
        Reminder,
        SavedMessage,
        ScheduledMessage,
        ThreadFollow,
    )

    if not (actor.is_active and actor.is_org_admin):
        raise Forbidden("Only owners and admins may erase people.")
    if user.pk == actor.pk:
        raise Conflict("You cannot erase yourself.")
    if user.role == Role.OWNER and actor.role != Role.OWNER:
        raise Forbidden("Only an owner may erase an owner.")
    removed = kept = 0
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.role == Role.OWNER and not User.objects.filter(
                role=Role.OWNER, is_active=True).exclude(pk=locked.pk).exists():
            raise Conflict("The organisation must keep at least one active owner.")
        if locked.avatar:
            locked.avatar.delete(save=False)
        locked.email = f"erased-{locked.pk}@erased.invalid"
        locked.display_name = f"Erased user {locked.pk}"
        for field in ("full_name", "title", "status_text", "status_emoji", "avatar"):
            setattr(locked, field, "")
        locked.timezone = "UTC"
        locked.is_active = False
        locked.deactivated_at = locked.deactivated_at or timezone.now()
        locked.dnd_until = locked.quiet_hours_start = locked.quiet_hours_end = None
        locked.email_notifications = locked.daily_digest = False
        locked.set_unusable_password()
        locked.save()
        ApiToken.objects.filter(user=locked, revoked_at__isnull=True).update(revoked_at=timezone.now())
        SavedMessage.objects.filter(user=locked).delete()
        Draft.objects.filter(user=locked).delete()
        ThreadFollow.objects.filter(user=locked).delete()
        ActivityState.objects.filter(user=locked).delete()
        ScheduledMessage.objects.filter(author=locked).delete()
        Reminder.objects.filter(user=locked).delete()
        PendingNotification.objects.filter(user=locked).delete()
        sessions_end(user_id=locked.pk)
        if remove_messages:
            theirs = Message.objects.filter(author=locked)
            kept = theirs.filter(held_messages_q()).count()
            for message in theirs.exclude(held_messages_q()).iterator():
                for attachment in message.attachments.all():
                    from files.services import attachment_delete

                    attachment_delete(attachment=attachment)
                message.delete()
                removed += 1
            # What supervision caught of the removed messages goes with them; the decisions
            # on it stay (who reviewed what, and when), as the record of the review.
            SupervisionItem.objects.filter(author=locked, message__isnull=True).update(text="(erased)")
        audit_record(action="data_subject.erased", actor=actor, target=locked,
                     data={"messages_removed": removed, "messages_kept_on_hold": kept,
                           "remove_messages": remove_messages})
        transaction.on_commit(lambda: _close_sockets(locked.pk))
    user.refresh_from_db()
    return {"messages_removed": removed, "messages_kept_on_hold": kept}


def _close_sockets(user_id: int) -> None:
    from core.live import user_deactivated_broadcast

    user_deactivated_broadcast(user_id)
