"""Missed-message email and the daily digest.

A message someone should hear about (a mention, a direct message, or anything in a
conversation they follow at "all") becomes a PendingNotification, due after a delay.
When due, and the person is not active, not in do-not-disturb and not in their quiet
hours, everything still unread is claimed for one NotificationBatch and emailed once.
Claiming happens under the person's row lock, so two workers never collect the same
notification, and a retried send resends the same batch.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import User
from core.audit import audit_record
from core.errors import InvalidInput, NotFound
from messaging.markdown import plain_text
from messaging.models import (
    ConversationKind,
    Membership,
    Mention,
    Message,
    NotificationBatch,
    NotificationLevel,
    NotificationReason,
    PendingNotification,
)

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "teamchat.notifications.unsubscribe"
PREFERENCE_FIELDS = ("notify_default", "email_notifications", "daily_digest",
                     "quiet_hours_start", "quiet_hours_end", "notification_preview")


def _delay() -> timedelta:
    return timedelta(seconds=settings.NOTIFY_EMAIL_DELAY_SECONDS)


def _window() -> timedelta:
    return timedelta(seconds=settings.NOTIFY_EMAIL_WINDOW_SECONDS)


def effective_level(membership: Membership, user: User) -> str:
    if membership.muted:
        return NotificationLevel.NOTHING
    if membership.notification_level != NotificationLevel.DEFAULT:
        return membership.notification_level
    return user.notify_default


def _reason(message: Message, membership: Membership, user: User, mentioned: set[int]) -> str | None:
    level = effective_level(membership, user)
    if level == NotificationLevel.NOTHING:
        return None
    if message.conversation.kind == ConversationKind.DIRECT:
        return NotificationReason.DIRECT
    if user.pk in mentioned:
        return NotificationReason.MENTION
    if level == NotificationLevel.ALL and message.in_channel:
        return NotificationReason.FOLLOWED
    return None


def notification_reasons(message: Message, memberships: Iterable[Membership]) -> list[tuple[Membership, str]]:
    """Who of these members should hear about a new message, and why: the one rule that
    missed-message email and push notifications (services/push.py) share."""
    mentioned = set(Mention.objects.filter(message=message).values_list("user_id", flat=True))
    found = []
    for membership in memberships:
        reason = _reason(message, membership, membership.user, mentioned)
        if reason is not None:
            found.append((membership, reason))
    return found


def notifications_queue(*, message_id: int) -> int:
    """Queue email notifications for a new message; returns how many. Idempotent."""
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or message.is_deleted:
        return 0
    memberships = (Membership.objects.filter(conversation=message.conversation)
                   .exclude(user_id=message.author_id)
                   .filter(user__is_active=True, user__is_bot=False, user__email_notifications=True)
                   .select_related("user"))
    due = timezone.now() + _delay()
    pending = [PendingNotification(user=membership.user, message=message, reason=reason, due_at=due)
               for membership, reason in notification_reasons(message, memberships)]
    PendingNotification.objects.bulk_create(pending, ignore_conflicts=True)
    return len(pending)


def _local_now(user: User, now: datetime) -> datetime:
    return now.astimezone(zoneinfo.ZoneInfo(user.timezone or "UTC"))


def quiet_hours_end(user: User, now: datetime) -> datetime | None:
    """When the person's quiet hours end, if they are in them now."""
    start, end = user.quiet_hours_start, user.quiet_hours_end
    if start is None or end is None or start == end:
        return None
    local = _local_now(user, now)
    clock = local.time()
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=local.tzinfo).astimezone(zoneinfo.ZoneInfo("UTC"))


def quiet_until(user: User, now: datetime) -> datetime | None:
    """Until when nothing may notify this person (do-not-disturb, quiet hours), or None."""
    if user.dnd_until and user.dnd_until > now:
        return user.dnd_until
    return quiet_hours_end(user, now)


def _held_until(user: User, now: datetime) -> datetime | None:
    """Until when email to this person must wait, or None if it may go now."""
    from accounts import presence

    quiet = quiet_until(user, now)
    if quiet:
        return quiet
    if user.last_notified_at and user.last_notified_at + _window() > now:
        return user.last_notified_at + _window()
    if presence.active_among([user.pk]):
        # Active in a tab right now: they will likely read it; look again later.
        return now + _delay()
    return None


def _still_wanted(notification: PendingNotification, memberships: dict[int, Membership],
                  user: User) -> bool:
    """Whether a due notification should still be emailed: unread, not deleted, and the
    person still wants to hear about it."""
    message = notification.message
    membership = memberships.get(message.conversation_id)
    if message.is_deleted or membership is None or message.seq <= membership.last_read_seq:
        return False
    level = effective_level(membership, user)
    if level == NotificationLevel.NOTHING:
        return False
    return notification.reason != NotificationReason.FOLLOWED or level == NotificationLevel.ALL


def notification_batch_claim(*, user_id: int, now: datetime | None = None) -> int | None:
    """Collect a person's due notifications into one batch, or postpone them. Returns the
    batch id to send, or None."""
    now = now or timezone.now()
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
        if user is None:
            return None
        due = (PendingNotification.objects.select_for_update(skip_locked=True)
               .filter(user=user, settled_at__isnull=True, batch__isnull=True, due_at__lte=now)
               .select_related("message__conversation").order_by("message_id"))
        due = list(due)
        if not due:
            return None
        if not user.email_notifications:
            PendingNotification.objects.filter(pk__in=[n.pk for n in due]).update(settled_at=now)
            return None
        held = _held_until(user, now)
        if held is not None:
            PendingNotification.objects.filter(pk__in=[n.pk for n in due]).update(due_at=held)
            return None
        memberships = {m.conversation_id: m for m in Membership.objects.filter(
            user=user, conversation_id__in={n.message.conversation_id for n in due})}
        wanted = [n for n in due if _still_wanted(n, memberships, user)]
        dropped = [n.pk for n in due if n not in wanted]
        if dropped:
            PendingNotification.objects.filter(pk__in=dropped).update(settled_at=now)
        if not wanted:
            return None
        batch = NotificationBatch.objects.create(user=user)
        PendingNotification.objects.filter(pk__in=[n.pk for n in wanted]).update(batch=batch)
        user.last_notified_at = now
        user.save(update_fields=["last_notified_at"])
    return batch.pk


def notifications_due_users(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    now = now or timezone.now()
    return list(PendingNotification.objects.filter(settled_at__isnull=True, batch__isnull=True,
                                                   due_at__lte=now)
                .values_list("user_id", flat=True).distinct()[:limit])


def unsubscribe_url(user: User) -> str:
    token = signing.dumps({"u": user.pk}, salt=UNSUBSCRIBE_SALT, compress=True)
    return f"{settings.SITE_URL}/notifications/unsubscribe/{token}/"


def message_url(message: Message) -> str:
    return f"{settings.SITE_URL}/#/c/{message.conversation_id}/m/{message.pk}"


def _conversation_label(message: Message, user: User) -> str:
    conversation = message.conversation
    if conversation.kind != ConversationKind.DIRECT:
        return f"#{conversation.name}"
    others = (User.objects.filter(memberships__conversation=conversation).exclude(pk=user.pk)
              .values_list("display_name", flat=True))
    return "direct message with " + ", ".join(others)


def notification_batch_send(*, batch_id: int) -> bool:
    """Send a claimed batch's email. Idempotent: a sent batch is not sent again. Raises on
    SMTP failure so the task retries the same batch."""
    batch = NotificationBatch.objects.select_related("user").filter(pk=batch_id).first()
    if batch is None or batch.sent_at is not None:
        return False
    user = batch.user
    notifications = list(batch.notifications.select_related(
        "message__author", "message__conversation").order_by("message_id"))
    if not notifications:
        return False
    groups: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for notification in notifications:
        message = notification.message
        groups.setdefault(_conversation_label(message, user), []).append({
            "sender": message.author.display_name,
            "text": "(deleted)" if message.is_deleted else _email_text(message),
            "url": message_url(message),
            "when": message.created_at,
            "reason": notification.get_reason_display(),
        })
    context = {"user": user, "groups": groups, "count": len(notifications),
               "unsubscribe_url": unsubscribe_url(user), "site_url": settings.SITE_URL}
    subject = (f"{len(notifications)} new message{'s' if len(notifications) != 1 else ''} "
               f"for you on teamchat")
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("messaging/email/missed.txt", context),
        to=[user.email],
        headers={
            "Message-ID": f"<teamchat-batch-{batch.pk}@{settings.SITE_URL.split('://')[-1].split('/')[0]}>",
            "List-Unsubscribe": f"<{context['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    email.attach_alternative(render_to_string("messaging/email/missed.html", context), "text/html")
    NotificationBatch.objects.filter(pk=batch.pk).update(attempts=batch.attempts + 1)
    email.send(fail_silently=False)
    now = timezone.now()
    with transaction.atomic():
        NotificationBatch.objects.filter(pk=batch.pk).update(sent_at=now)
        batch.notifications.update(settled_at=now)
    return True


def notification_preferences_update(*, user: User, **changes: Any) -> User:
    unknown = set(changes) - set(PREFERENCE_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown preferences: {', '.join(sorted(unknown))}.",
                           fields={f: ["Unknown field."] for f in unknown})
    if "notify_default" in changes and changes["notify_default"] not in ("all", "mentions", "nothing"):
        raise InvalidInput.for_field("notify_default", "Must be all, mentions or nothing.")
    if changes.get("notification_preview", "full") not in ("full", "sender", "none"):
        raise InvalidInput.for_field("notification_preview", "Must be full, sender or none.")
    for flag in ("email_notifications", "daily_digest"):
        if flag in changes and not isinstance(changes[flag], bool):
            raise InvalidInput.for_field(flag, "Must be true or false.")
    for field in ("quiet_hours_start", "quiet_hours_end"):
        if field in changes and changes[field] is not None and not isinstance(changes[field], time):
            raise InvalidInput.for_field(field, "Must be a time of day like 22:00, or null.")
    start = changes.get("quiet_hours_start", user.quiet_hours_start)
    end = changes.get("quiet_hours_end", user.quiet_hours_end)
    if (start is None) != (end is None):
        raise InvalidInput("Quiet hours need both a start and an end (or neither).",
                           fields={"quiet_hours_start": ["Set both or neither."],
                                   "quiet_hours_end": ["Set both or neither."]})
    for name, value in changes.items():
        setattr(user, name, value)
    user.save(update_fields=list(changes))
    return user


def unsubscribe_user(*, token: str) -> User:
    """The person a signed unsubscribe token names; NotFound for anything else."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        raise NotFound("This unsubscribe link is not valid.") from None
    user = User.objects.filter(pk=data.get("u")).first()
    if user is None:
        raise NotFound("This unsubscribe link is not valid.")
    return user


def email_unsubscribe(*, token: str, ip_address: str | None = None) -> User:
    """Turn off someone's notification email from the link in it, without signing in."""
    user = unsubscribe_user(token=token)
    with transaction.atomic():
        notification_preferences_update(user=user, email_notifications=False, daily_digest=False)
        PendingNotification.objects.filter(user=user, settled_at__isnull=True,
                                           batch__isnull=True).update(settled_at=timezone.now())
        audit_record(action="notifications.unsubscribed", actor=user, target=user,
                     ip_address=ip_address)
    return user


# --- Daily digest ---------------------------------------------------------------------


def digest_due_users(*, now: datetime | None = None) -> list[int]:
    """People who asked for a digest, whose local time is the digest hour, not yet served."""
    now = now or timezone.now()
    candidates = User.objects.filter(
        is_active=True, is_bot=False, daily_digest=True, email_notifications=True
    ).filter(Q(last_digest_at__isnull=True) | Q(last_digest_at__lt=now - timedelta(hours=20)))
    return [user.pk for user in candidates
            if _local_now(user, now).hour == settings.NOTIFY_DIGEST_HOUR]


def digest_claim(*, user_id: int, now: datetime | None = None) -> bool:
    """Claim today's digest for a person (so a second worker sends nothing)."""
    now = now or timezone.now()
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None or (user.last_digest_at and user.last_digest_at > now - timedelta(hours=20)):
            return False
        user.last_digest_at = now
        user.save(update_fields=["last_digest_at"])
    return True


def digest_deliver(*, user_id: int, since: datetime) -> bool:
    """Email one person the busiest channels they follow since `since`; nothing when no
    channel of theirs was busy. Raises on SMTP failure so the task retries."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    followed = Membership.objects.filter(user=user, muted=False).exclude(
        conversation__kind=ConversationKind.DIRECT).exclude(
        notification_level=NotificationLevel.NOTHING).values("conversation_id")
    busy = list(Message.objects.filter(conversation_id__in=followed, created_at__gte=since,
                                       deleted_at__isnull=True)
                .exclude(author=user)
                .values("conversation_id", "conversation__name")
                .annotate(count=Count("id")).order_by("-count")[:5])
    if not busy:
        return False
    channels = []
    for row in busy:
        top = (Message.objects.filter(conversation_id=row["conversation_id"], created_at__gte=since,
                                      deleted_at__isnull=True)
               .annotate(reaction_total=Count("reactions")).select_related("author")
               .order_by("-reaction_total", "-reply_count", "-id")[:3])
        channels.append({"name": row["conversation__name"], "count": row["count"],
                         "highlights": [{"sender": m.author.display_name,
                                         "text": _email_text(m)[:280],
                                         "url": message_url(m)} for m in top]})
    context = {"user": user, "channels": channels, "unsubscribe_url": unsubscribe_url(user),
               "site_url": settings.SITE_URL}
    email = EmailMultiAlternatives(
        subject="Your daily teamchat digest", to=[user.email],
        body=render_to_string("messaging/email/digest.txt", context),
        headers={"List-Unsubscribe": f"<{context['unsubscribe_url']}>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                 "Auto-Submitted": "auto-generated"},
    )
    email.attach_alternative(render_to_string("messaging/email/digest.html", context), "text/html")
    email.send(fail_silently=False)
    return True


def personal_email(*, user: User, subject: str, body: str) -> None:
    """One plain-text email to one person about their own things (a reminder, a scheduled
    message that was not sent), with the unsubscribe link of every teamchat email.
    Raises on SMTP failure so the task retries."""
    link = unsubscribe_url(user)
    email = EmailMultiAlternatives(
        subject=subject, to=[user.email],
        body=f"{body}\n--\nStop these emails: {link}\n",
        headers={"List-Unsubscribe": f"<{link}>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                 "Auto-Submitted": "auto-generated"},
    )
    email.send(fail_silently=False)


ENCRYPTED_NOTICE = "An end-to-end encrypted message: open teamchat to read it."


def _email_text(message: Message) -> str:
    """What an email shows of a message. The server holds no text of an end-to-end
    encrypted one (its html is empty), so the email says only that it arrived."""
    return ENCRYPTED_NOTICE if message.key_id is not None else plain_text(message.html)
