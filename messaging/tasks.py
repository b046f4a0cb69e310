"""Celery tasks of the messaging app: thin, idempotent, retried where the network is."""

from __future__ import annotations

import logging
import smtplib
import time
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from core import bus, requestid
from messaging.services import notifications, push, reminders, scheduled

# Published (core.bus) once a new message is committed, from its background job, with
# message_id and has_link.
MESSAGE_CREATED = "messaging.message_created"
MESSAGE_EDITED = "messaging.message_edited"

logger = logging.getLogger(__name__)

# SMTP servers fail transiently (greylisting, restarts); each retry waits longer.
SMTP_ERRORS = (smtplib.SMTPException, OSError)


@shared_task
def messages_created(messages: list[tuple[int, bool, str | None]]) -> int:
    """Side effects of new messages, after commit: email notifications to queue, outgoing
    webhooks to call, link previews to fetch. Each item is [message id, has a link, the
    request id of the send]; sends hand them over in batches (core/batching.py), and
    each message's lines are logged under its own send's request id."""
    queued = 0
    for message_id, has_link, request in messages:
        token = requestid.request_id.set(request)
        try:
            queued += message_created(message_id, has_link)
        except Exception:
            if messages_created.app.conf.task_always_eager:
                raise  # the tests see it
            # One message's failure is its own: the others of the batch go on, on a
            # fresh database connection if that one broke.
            logger.exception("side effects of message %s failed", message_id)
            close_old_connections()
        finally:
            requestid.request_id.reset(token)
    return queued


@shared_task
def message_created(message_id: int, has_link: bool = False) -> int:
    """One new message's side effects (see messages_created; what servers queued before
    sends were batched)."""
    queued = notifications.notifications_queue(message_id=message_id)
    for planned in push.push_message_plan(message_id=message_id):
        push_deliver.delay(planned.subscription_id, planned.payload)
    # Webhooks and link previews (integrations), and whatever else subscribed.
    bus.publish(MESSAGE_CREATED, message_id=message_id, has_link=has_link)
    logger.info("message %s: %d notifications queued", message_id, queued)
    return queued


@shared_task
def message_edited(message_id: int, version: int) -> None:
    """After an edit's commit: whoever subscribed (supervision) sees the new version."""
    bus.publish(MESSAGE_EDITED, message_id=message_id, version=version)


@shared_task(bind=True, max_retries=8)
def push_deliver(self, subscription_id: int, payload: dict) -> bool:
    """One push to one device. A push service that answers 429 or 5xx (or cannot be
    reached) is asked again after its Retry-After, or after growing waits."""
    try:
        return push.push_send(subscription_id=subscription_id, payload=payload)
    except push.PushRetryLater as error:
        wait = error.retry_after
        if wait is None:
            wait = min(settings.PUSH_RETRY_SECONDS * 2 ** self.request.retries, 1800)
        raise self.retry(exc=error, countdown=wait) from None


@shared_task
def push_withdraw(user_id: int, conversation_id: int) -> int:
    """Close a conversation's notification on every device of a person who read it."""
    planned = push.push_withdraw_plan(user_id=user_id, conversation_id=conversation_id)
    for item in planned:
        push_deliver.delay(item.subscription_id, item.payload)
    return len(planned)


@shared_task
def send_due_notifications() -> int:
    claimed = 0
    for user_id in notifications.notifications_due_users():
        batch_id = notifications.notification_batch_claim(user_id=user_id)
        if batch_id is not None:
            send_notification_batch.delay(batch_id)
            claimed += 1
    return claimed


@shared_task(bind=True, autoretry_for=SMTP_ERRORS, retry_backoff=settings.NOTIFY_SMTP_RETRY_SECONDS,
             retry_backoff_max=1800, retry_jitter=True, max_retries=10)
def send_notification_batch(self, batch_id: int) -> bool:
    return notifications.notification_batch_send(batch_id=batch_id)


@shared_task
def send_digests() -> int:
    now = timezone.now()
    started = 0
    for user_id in notifications.digest_due_users(now=now):
        if notifications.digest_claim(user_id=user_id, now=now):
            deliver_digest.delay(user_id, (now - timedelta(days=1)).isoformat())
            started += 1
    return started


@shared_task(bind=True, autoretry_for=SMTP_ERRORS,
             retry_backoff=settings.NOTIFY_SMTP_RETRY_SECONDS * 2, retry_backoff_max=3600,
             retry_jitter=True, max_retries=8)
def deliver_digest(self, user_id: int, since: str) -> bool:
    return notifications.digest_deliver(user_id=user_id, since=datetime.fromisoformat(since))


# --- Scheduled messages and reminders (issue 28) ----------------------------------------


def _wait_for(due: str, eager: bool) -> None:
    """A task published for a moment (`eta`) may start a hair early on a clock that
    differs from the publisher's: wait out up to a few seconds rather than leave the
    work to the next sweep. A task run at once (eager) never waits."""
    remaining = (datetime.fromisoformat(due) - timezone.now()).total_seconds()
    if not eager and 0 < remaining <= 5:
        time.sleep(remaining)


@shared_task(bind=True)
def send_scheduled_message(self, scheduled_id: int, send_at: str) -> bool:
    """Published for the minute a scheduled message is due; does nothing if it was
    moved, cancelled or already sent (by the sweep)."""
    _wait_for(send_at, bool(self.request.is_eager))
    return scheduled.scheduled_send(scheduled_id=scheduled_id) is not None


@shared_task
def send_due_scheduled() -> int:
    """Every minute (beat): send what is due and no task sent."""
    return scheduled.scheduled_send_due()


@shared_task(bind=True)
def deliver_reminder(self, reminder_id: int, remind_at: str) -> bool:
    _wait_for(remind_at, bool(self.request.is_eager))
    return reminders.reminder_deliver(reminder_id=reminder_id) is not None


@shared_task
def deliver_due_reminders() -> int:
    """Every minute (beat): deliver the reminders that are due and no task delivered."""
    return reminders.reminders_deliver_due()


@shared_task(bind=True, autoretry_for=SMTP_ERRORS, retry_backoff=settings.NOTIFY_SMTP_RETRY_SECONDS,
             retry_backoff_max=1800, retry_jitter=True, max_retries=10)
def email_scheduled_failed(self, scheduled_id: int) -> bool:
    return scheduled.scheduled_failure_email(scheduled_id=scheduled_id)


@shared_task(bind=True, autoretry_for=SMTP_ERRORS, retry_backoff=settings.NOTIFY_SMTP_RETRY_SECONDS,
             retry_backoff_max=1800, retry_jitter=True, max_retries=10)
def email_reminder(self, reminder_id: int) -> bool:
    return reminders.reminder_email(reminder_id=reminder_id)
