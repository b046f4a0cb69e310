"""Reminders: "remind me about this message" in 20 minutes, tomorrow, at a chosen time
(issue 28), delivered as a notification: a `reminder.due` frame to the person's
browsers (shown in the page, and as a desktop notification where allowed), and an
email when no browser of theirs is active. A reminder on a saved message is simply a
reminder on that message.

As for scheduled messages (messaging/services/scheduled.py), a task is published for
the moment itself and a beat entry sweeps every minute for what is due; whichever takes
the row's lock first delivers it, the other finds nothing to do. Whether the person may
still see the message is checked again at delivery.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from core.errors import Conflict, InvalidInput, NotFound
from core.ids import row_id
from core.live import user_event_on_commit
from messaging.models import Message, Reminder, ReminderState
from messaging.payloads import iso, reminder_payload
from messaging.services.scheduled import ETA_HORIZON, MAX_AHEAD, parse_time

# Waiting reminders one person may have at once.
MAX_PENDING = 500


def reminder_set(*, actor: User, message_id: Any, in_minutes: Any = None,
                 remind_at: Any = None) -> tuple[Reminder, bool]:
    """Remind the person about a message they may see, `in_minutes` from now or at
    `remind_at` (whole minutes; without an offset, in their time zone). Asking again
    about a message with a reminder waiting moves that reminder. The reminder, and
    whether it is new."""
    from messaging.selectors import message_get_for_user

    message = message_get_for_user(user=actor, message_id=message_id)
    if message.is_deleted:
        raise NotFound("No such message.")
    when = _when(actor, in_minutes, remind_at)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=actor.pk).first()
        reminder = (Reminder.objects.select_for_update()
                    .filter(user=actor, message=message, state=ReminderState.PENDING).first())
        created = reminder is None
        if created:
            if Reminder.objects.filter(user=actor, state=ReminderState.PENDING).count() >= MAX_PENDING:
                raise Conflict(f"You have {MAX_PENDING} reminders waiting; cancel some first.",
                               code="too_many_reminders")
            try:
                with transaction.atomic():
                    reminder = Reminder.objects.create(user=actor, message=message, remind_at=when)
            except IntegrityError:
                raise Conflict("A reminder about this message was just set.") from None
        elif reminder.remind_at != when:
            reminder.remind_at = when
            reminder.save(update_fields=["remind_at"])
        _changed(reminder, publish=True)
    return reminder, created


def reminder_cancel(*, actor: User, reminder_id: Any) -> Reminder:
    """Cancel one of the person's waiting reminders (anyone else's does not exist)."""
    pk = row_id(reminder_id, NotFound("No such reminder."))
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().filter(pk=pk, user=actor).first()
        if reminder is None:
            raise NotFound("No such reminder.")
        if reminder.state != ReminderState.PENDING:
            raise Conflict(f"This reminder was already {reminder.get_state_display().lower()}.",
                           code=f"already_{reminder.state}")
        reminder.state = ReminderState.CANCELLED
        reminder.save(update_fields=["state"])
        _changed(reminder)
    return reminder


def _when(actor: User, in_minutes: Any, remind_at: Any) -> datetime:
    if (in_minutes is None) == (remind_at is None):
        problem = "Give either in_minutes or remind_at."
        raise InvalidInput(problem, fields={"in_minutes": [problem], "remind_at": [problem]})
    if remind_at is not None:
        return parse_time(remind_at, user=actor, field="remind_at")
    most = int(MAX_AHEAD.total_seconds() // 60)
    if isinstance(in_minutes, bool) or not isinstance(in_minutes, int) or not 1 <= in_minutes <= most:
        raise InvalidInput.for_field("in_minutes", f"Must be a whole number of minutes, 1 to {most}.")
    return (timezone.now() + timedelta(minutes=in_minutes)).replace(microsecond=0)


def _changed(reminder: Reminder, *, publish: bool = False) -> None:
    """Tell the person's browsers (`reminder.updated`, ids only) and, for a new time,
    publish the delivery task for it, once the change commits."""
    user_event_on_commit(reminder.user_id, {
        "type": "reminder.updated", "reminder": reminder.pk, "message": reminder.message_id,
        "state": reminder.state, "remind_at": iso(reminder.remind_at)})
    if publish:
        pk, when = reminder.pk, reminder.remind_at
        transaction.on_commit(lambda: _publish(pk, when))


def _publish(reminder_id: int, when: datetime) -> None:
    from messaging import tasks

    if when - timezone.now() <= ETA_HORIZON:
        tasks.deliver_reminder.apply_async(args=[reminder_id, when.isoformat()], eta=when)


# --- The worker's side -----------------------------------------------------------------


def reminder_deliver(*, reminder_id: int, now: datetime | None = None) -> Reminder | None:
    """Deliver one reminder if it is still waiting and due; None when there was nothing
    to do (cancelled, moved later, delivered, or in another worker's hands now)."""
    from messaging.selectors import message_get_for_user

    now = now or timezone.now()
    with transaction.atomic():
        reminder = (Reminder.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("user")
                    .filter(pk=reminder_id, state=ReminderState.PENDING, remind_at__lte=now)
                    .first())
        if reminder is None:
            return None
        try:
            message = message_get_for_user(user=reminder.user, message_id=reminder.message_id)
        except NotFound:
            message = None
        if message is None or message.is_deleted:
            # Deleted, or no longer the person's to see (they left, were removed, were
            # deactivated): nothing is said about it.
            reminder.state = ReminderState.DROPPED
            reminder.save(update_fields=["state"])
            _changed(reminder)
            return reminder
        reminder.state = ReminderState.DELIVERED
        reminder.delivered_at = now
        reminder.save(update_fields=["state", "delivered_at"])
        _due(reminder, message)
    return reminder


def reminders_deliver_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Deliver every reminder whose time has come (the beat sweep); how many went out."""
    now = now or timezone.now()
    due = list(Reminder.objects.filter(state=ReminderState.PENDING, remind_at__lte=now)
               .order_by("remind_at", "id").values_list("pk", flat=True)[:limit])
    delivered = 0
    for pk in due:
        reminder = reminder_deliver(reminder_id=pk, now=now)
        if reminder is not None and reminder.state == ReminderState.DELIVERED:
            delivered += 1
    return delivered


def _due(reminder: Reminder, message: Message) -> None:
    from messaging.selectors import conversation_labels

    user = reminder.user
    label = conversation_labels(user=user, conversation_ids={message.conversation_id}).get(
        message.conversation_id, "")
    user_event_on_commit(user.pk, {"type": "reminder.due", "reminder": reminder_payload(reminder, message),
                                   "conversation_name": label})
    if user.email_notifications:
        pk = reminder.pk
        transaction.on_commit(lambda: _email_if_away(user.pk, pk))


def _email_if_away(user_id: int, reminder_id: int) -> None:
    from accounts import presence
    from messaging import tasks

    if not presence.active_among([user_id]):
        tasks.email_reminder.delay(reminder_id)


def reminder_email(*, reminder_id: int) -> bool:
    """Email a delivered reminder to a person no browser of whom was active then. Raises
    on SMTP failure so the task retries."""
    from messaging.selectors import conversation_labels, message_get_for_user
    from messaging.services.notifications import _email_text, message_url, personal_email

    reminder = (Reminder.objects.select_related("user")
                .filter(pk=reminder_id, state=ReminderState.DELIVERED).first())
    if reminder is None or not reminder.user.email_notifications:
        return False
    try:
        message = message_get_for_user(user=reminder.user, message_id=reminder.message_id)
    except NotFound:
        return False
    if message.is_deleted:
        return False
    user = reminder.user
    label = conversation_labels(user=user, conversation_ids={message.conversation_id}).get(
        message.conversation_id, "")
    local = message.created_at.astimezone(zoneinfo.ZoneInfo(user.timezone or "UTC"))
    author = User.objects.filter(pk=message.author_id).values_list("display_name", flat=True).first()
    body = (f"You asked to be reminded of this message from {author} in {label} "
            f"({local:%Y-%m-%d %H:%M}):\n\n{_email_text(message)[:2000]}\n\n"
            f"Open it: {message_url(message)}\n")
    personal_email(user=user, subject=f"Reminder: a message from {author}", body=body)
    return True

