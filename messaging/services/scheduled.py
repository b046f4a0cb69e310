"""Scheduled messages: "send at" on the composer (issue 28).

A scheduled message waits as a ScheduledMessage row until its minute, then the worker
sends it through `message_create`, as its author and with the author's rights at that
moment: the same checks, rate limit and idempotency as any send (its client_msg_id is
`sched-<id>`, so however many times it is tried, one message is stored). A Celery task
is published for the minute itself (`eta`) when the row is made or moved, and a beat
entry sweeps every minute for anything due that no task sent (a worker restarted, a
time beyond the eta horizon). Whichever comes first takes the row's lock; the other
finds it sent and does nothing.
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.audit import audit_record
from core.errors import Conflict, InvalidInput, NotFound, RateLimited, TeamchatError
from core.ids import row_id
from core.live import user_event_on_commit
from messaging import permissions
from messaging.models import Message, ScheduledMessage, ScheduledState
from messaging.payloads import scheduled_payload

logger = logging.getLogger(__name__)

# How far ahead a message may be scheduled (and a reminder set).
MAX_AHEAD = timedelta(days=120)
# Pending scheduled messages one person may have at once.
MAX_PENDING = 200
# A send task is published only for times closer than this: a broker redelivers a task
# held past its visibility timeout (Redis: one hour), and the sweep sends the rest.
ETA_HORIZON = timedelta(minutes=50)

# Words for the author when a scheduled message could not be sent, by error code.
FAILURE_REASONS = {
    "not_found": "You can no longer see this conversation.",
    "not_a_member": "You are no longer a member of this conversation.",
    "archived": "The conversation was archived.",
    "deactivated": "Your account was deactivated.",
    "encryption_required": "The conversation now takes end-to-end encrypted messages only.",
}


# --- Times ---------------------------------------------------------------------------


def parse_time(value: Any, *, user: User, field: str, now: datetime | None = None,
               to_minute: bool = True) -> datetime:
    """A time the person gave, checked: ISO 8601 with an offset as given, or without one
    in their own time zone (`User.timezone`); whole minutes (seconds are dropped) when
    `to_minute`; in the future and at most MAX_AHEAD from now."""
    now = now or timezone.now()
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value.strip():
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput.for_field(
                field, "Must be a time like 2026-12-08T09:00 (your time zone) or "
                       "2026-12-08T09:00:00+01:00.") from None
    else:
        raise InvalidInput.for_field(field, "Must be a time like 2026-12-08T09:00.")
    if when.tzinfo is None:
        when = when.replace(tzinfo=zoneinfo.ZoneInfo(user.timezone or "UTC"))
    if to_minute:
        when = when.replace(second=0, microsecond=0)
    if when <= now:
        raise InvalidInput.for_field(field, "Must be in the future.")
    if when > now + MAX_AHEAD:
        raise InvalidInput.for_field(field, f"At most {MAX_AHEAD.days} days ahead.")
    return when.astimezone(zoneinfo.ZoneInfo("UTC"))


# --- The author's actions ------------------------------------------------------------


def scheduled_create(*, actor: User, conversation_id: Any, text: Any, send_at: Any,
                     thread_root_id: Any = None) -> ScheduledMessage:
    """Schedule a message for `send_at`. Checked as a send is now (the text, the thread,
    that the person may post there), and checked again when it is sent."""
    from messaging.selectors import conversation_get_for_user
    from messaging.services.messages import clean_text

    conversation, membership = conversation_get_for_user(user=actor, conversation_id=conversation_id)
    permissions.require_participate(actor, conversation, membership)
    if conversation.encrypted:
        raise Conflict("Messages of an end-to-end encrypted conversation are sealed in the "
                       "browser; the server cannot send one later.", code="encrypted")
    text = clean_text(text)
    when = parse_time(send_at, user=actor, field="send_at")
    root = _thread_root(conversation.pk, thread_root_id)
    with transaction.atomic():
        # The person's row lock keeps two requests from both passing the limit.
        User.objects.select_for_update().filter(pk=actor.pk).first()
        pending = ScheduledMessage.objects.filter(author=actor, state=ScheduledState.PENDING).count()
        if pending >= MAX_PENDING:
            raise Conflict(f"You have {MAX_PENDING} messages waiting to be sent; send or cancel "
                           "some first.", code="too_many_scheduled")
        scheduled = ScheduledMessage.objects.create(
            author=actor, conversation=conversation, thread_root=root, text=text, send_at=when)
        _changed(scheduled)
    return scheduled


def scheduled_edit(*, actor: User, scheduled_id: Any, text: Any = None,
                   send_at: Any = None) -> ScheduledMessage:
    """Change the text and/or the time of one of the person's scheduled messages, while
    it still waits. A new time gets its own send task; the old one finds nothing due."""
    from messaging.services.messages import clean_text

    if text is None and send_at is None:
        raise InvalidInput("Give the new text or send_at.",
                           fields={"text": ["Give the new text or send_at."]})
    new_text = clean_text(text) if text is not None else None
    when = parse_time(send_at, user=actor, field="send_at") if send_at is not None else None
    with transaction.atomic():
        scheduled = _lock_own(actor, scheduled_id)
        _require_pending(scheduled)
        changed = []
        if new_text is not None and new_text != scheduled.text:
            scheduled.text = new_text
            changed.append("text")
        if when is not None and when != scheduled.send_at:
            scheduled.send_at = when
            changed.append("send_at")
        if changed:
            scheduled.updated_at = timezone.now()
            scheduled.save(update_fields=[*changed, "updated_at"])
            _changed(scheduled, publish="send_at" in changed)
    return scheduled


def scheduled_cancel(*, actor: User, scheduled_id: Any) -> ScheduledMessage:
    """Cancel one of the person's scheduled messages before it goes."""
    with transaction.atomic():
        scheduled = _lock_own(actor, scheduled_id)
        _require_pending(scheduled)
        scheduled.state = ScheduledState.CANCELLED
        scheduled.updated_at = timezone.now()
        scheduled.save(update_fields=["state", "updated_at"])
        _changed(scheduled, publish=False)
    return scheduled


def _lock_own(actor: User, scheduled_id: Any) -> ScheduledMessage:
    """The person's own scheduled message, locked; anyone else's does not exist for them.
    Call inside atomic()."""
    pk = row_id(scheduled_id, NotFound("No such scheduled message."))
    scheduled = ScheduledMessage.objects.select_for_update().filter(pk=pk, author=actor).first()
    if scheduled is None:
        raise NotFound("No such scheduled message.")
    return scheduled


def _require_pending(scheduled: ScheduledMessage) -> None:
    if scheduled.state != ScheduledState.PENDING:
        raise Conflict(f"This message was already {scheduled.get_state_display().lower()}; "
                       "it can no longer be changed.", code=f"already_{scheduled.state}")


def _thread_root(conversation_id: int, value: Any) -> Message | None:
    if value in (None, "", 0, "0"):
        return None
    pk = row_id(value, InvalidInput.for_field("thread_root", "Must be a message id."))
    root = Message.objects.filter(pk=pk, conversation_id=conversation_id,
                                  thread_root__isnull=True, deleted_at__isnull=True).first()
    if root is None:
        raise InvalidInput.for_field("thread_root", "No such thread in this conversation.")
    return root


def _changed(scheduled: ScheduledMessage, *, publish: bool = True, detail: str | None = None) -> None:
    """Tell the author's browsers (`scheduled.updated`) and, for a new time, publish the
    send task for it, once the change commits."""
    frame: dict[str, Any] = {"type": "scheduled.updated", "scheduled": scheduled_payload(scheduled)}
    if detail:
        frame["detail"] = detail
    user_event_on_commit(scheduled.author_id, frame)
    if publish and scheduled.state == ScheduledState.PENDING:
        pk, when = scheduled.pk, scheduled.send_at
        transaction.on_commit(lambda: _publish(pk, when))


def _publish(scheduled_id: int, when: datetime) -> None:
    from messaging import tasks

    if when - timezone.now() <= ETA_HORIZON:
        tasks.send_scheduled_message.apply_async(args=[scheduled_id, when.isoformat()], eta=when)


# --- The worker's side -----------------------------------------------------------------


def scheduled_send(*, scheduled_id: int, now: datetime | None = None) -> ScheduledMessage | None:
    """Send one scheduled message if it is still waiting and due. None when there was
    nothing to do: cancelled, moved later, already sent, or being sent by another worker
    right now (its lock is skipped, never waited for)."""
    now = now or timezone.now()
    with transaction.atomic():
        scheduled = (ScheduledMessage.objects.select_for_update(skip_locked=True, of=("self",))
                     .select_related("author")
                     .filter(pk=scheduled_id, state=ScheduledState.PENDING, send_at__lte=now)
                     .first())
        if scheduled is None:
            return None
        return _send_locked(scheduled, now)


def scheduled_send_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send every scheduled message whose time has come (the beat sweep); how many were
    sent. Each goes in a transaction of its own, so one refusal holds up no other."""
    now = now or timezone.now()
    due = list(ScheduledMessage.objects.filter(state=ScheduledState.PENDING, send_at__lte=now)
               .order_by("send_at", "id").values_list("pk", flat=True)[:limit])
    sent = 0
    for pk in due:
        scheduled = scheduled_send(scheduled_id=pk, now=now)
        if scheduled is not None and scheduled.state == ScheduledState.SENT:
            sent += 1
    return sent


def _send_locked(scheduled: ScheduledMessage, now: datetime) -> ScheduledMessage:
    """Call inside atomic(), holding the row's lock."""
    from messaging.services.messages import message_create

    author = scheduled.author
    try:
        if not author.is_active:
            raise NotFound("The author's account was deactivated.", code="deactivated")
        result = message_create(author=author, conversation_id=scheduled.conversation_id,
                                text=scheduled.text, client_msg_id=scheduled.client_msg_id,
                                thread_root_id=scheduled.thread_root_id)
    except RateLimited:
        # The author's own sends used up the limit this minute: the next sweep tries again.
        logger.info("scheduled message %s waits: rate limited", scheduled.pk)
        return scheduled
    except TeamchatError as error:
        return _fail(scheduled, error, now)
    scheduled.state = ScheduledState.SENT
    scheduled.message = result.message
    scheduled.updated_at = now
    scheduled.save(update_fields=["state", "message", "updated_at"])
    audit_record(action="scheduled_message.sent", actor=author, target=scheduled,
                 conversation_id=scheduled.conversation_id,
                 data={"message": result.message.pk, "send_at": scheduled.send_at.isoformat()})
    _changed(scheduled, publish=False)
    return scheduled


def _fail(scheduled: ScheduledMessage, error: TeamchatError, now: datetime) -> ScheduledMessage:
    """Not sent, for good: the author is told (`scheduled.updated` with the reason, which
    the web client shows as a notification) and the row keeps why."""
    reason = FAILURE_REASONS.get(error.code, error.detail)
    scheduled.state = ScheduledState.FAILED
    scheduled.failure_code = error.code[:40]
    scheduled.failure_reason = reason[:300]
    scheduled.updated_at = now
    scheduled.save(update_fields=["state", "failure_code", "failure_reason", "updated_at"])
    audit_record(action="scheduled_message.failed", actor=scheduled.author, target=scheduled,
                 conversation_id=scheduled.conversation_id, data={"code": scheduled.failure_code})
    _changed(scheduled, publish=False, detail=f"Your scheduled message was not sent: {reason}")
    if scheduled.author.is_active and scheduled.author.email_notifications:
        pk = scheduled.pk
        transaction.on_commit(lambda: _email_failure(pk))
    return scheduled


def _email_failure(scheduled_id: int) -> None:
    from messaging import tasks

    tasks.email_scheduled_failed.delay(scheduled_id)


def scheduled_failure_email(*, scheduled_id: int) -> bool:
    """Email the author that a scheduled message was not sent and why (they may not be
    at a browser to see the notification). Raises on SMTP failure so the task retries."""
    from messaging.services.notifications import personal_email

    scheduled = (ScheduledMessage.objects.select_related("author", "conversation")
                 .filter(pk=scheduled_id, state=ScheduledState.FAILED).first())
    if scheduled is None or not scheduled.author.is_active:
        return False
    where = (f"#{scheduled.conversation.name}" if scheduled.conversation.is_channel
             else "a direct conversation")
    local = scheduled.send_at.astimezone(zoneinfo.ZoneInfo(scheduled.author.timezone or "UTC"))
    body = (f"Your message scheduled for {local:%Y-%m-%d %H:%M} ({local.tzname()}) in {where} was "
            f"not sent: {scheduled.failure_reason}\n\nIts text:\n\n{scheduled.text}\n\n"
            f"Open teamchat (Scheduled messages) to send it again: {settings.SITE_URL}/\n")
    personal_email(user=scheduled.author, subject="Your scheduled message was not sent", body=body)
    return True
