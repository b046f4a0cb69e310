"""Missed-message email against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
import re
import threading
import time as time_module
import zoneinfo
from datetime import datetime, time, timedelta
from email.message import Message as EmailMessage

import pytest
from aiosmtpd.controller import Controller
from django.test import Client
from django.utils import timezone

from accounts import presence
from accounts import services as accounts
from messaging import services, tasks
from messaging.models import NotificationBatch, PendingNotification
from messaging.services import notifications
from tests.factories import client_for, make_channel, make_direct, make_user, post, wait_for
from tests.servers import free_port

pytestmark = pytest.mark.django_db


class Mailbox:
    """An SMTP server that keeps what it accepts; it can refuse the first few tries."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = 0
        self.refused = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refused < self.refuse:
            self.refused += 1
            return "451 4.3.0 Try again later"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def mailbox(settings):
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.SITE_URL = "https://chat.example.com"
    yield box
    controller.stop()


def text_of(message: EmailMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    return ""


def later(minutes: int) -> datetime:
    return timezone.now() + timedelta(minutes=minutes)


def deliver(now: datetime | None = None) -> int:
    """What the periodic task does, at a given moment."""
    sent = 0
    for user_id in notifications.notifications_due_users(now=now or later(10)):
        batch = notifications.notification_batch_claim(user_id=user_id, now=now or later(10))
        if batch is not None:
            tasks.send_notification_batch.delay(batch)
            sent += 1
    return sent


@pytest.fixture
def scene(member, other_member, django_capture_on_commit_callbacks):
    ana, ben = member, other_member
    channel = make_channel(ana, "launch", members=[ben])

    def say(author, text, conversation=None):
        with django_capture_on_commit_callbacks(execute=True):
            return post(author, conversation or channel, text)

    return ana, ben, channel, say


def test_a_mention_to_an_away_person_arrives_once_after_the_delay(scene, mailbox):
    ana, ben, channel, say = scene
    message = say(ana, f"<@{ben.pk}> the **launch** moved to Friday")

    assert deliver(now=timezone.now()) == 0  # not yet: the delay has not passed
    assert deliver() == 1
    assert deliver(later(60)) == 0  # never twice
    tasks.send_notification_batch.delay(NotificationBatch.objects.get().pk)  # nor on a retry

    (mail,) = mailbox.to(ben.email)
    body = text_of(mail)
    assert "#launch" in body and ana.display_name in body
    assert "the launch moved to Friday" in body
    assert f"https://chat.example.com/#/c/{channel.pk}/m/{message.pk}" in body
    assert " ".join(mail["List-Unsubscribe"].split()).startswith(
        "<https://chat.example.com/notifications/unsubscribe/")
    assert mailbox.to(ana.email) == []


def test_everything_pending_goes_in_one_email(scene, mailbox, member):
    ana, ben, _channel, say = scene
    say(ana, f"<@{ben.pk}> first")
    say(ana, f"<@{ben.pk}> second")
    direct = make_direct(ana, ben)
    say(ana, "third, privately", direct)

    assert deliver() == 1
    (mail,) = mailbox.to(ben.email)
    body = text_of(mail)
    assert "first" in body and "second" in body and "third, privately" in body
    assert "direct message with" in body
    assert mail["Subject"] == "3 new messages for you on teamchat"


def test_a_message_read_before_the_delay_is_left_out(scene, mailbox):
    ana, ben, channel, say = scene
    read = say(ana, f"<@{ben.pk}> already seen")
    services.read_mark(actor=ben, conversation_id=channel.pk, message_id=read.pk)

    assert deliver() == 0
    assert mailbox.messages == []
    assert PendingNotification.objects.get().settled_at is not None


def test_plain_channel_messages_email_only_those_who_follow_everything(scene, mailbox,
                                                                      user_factory):
    ana, _ben, channel, say = scene
    follower = user_factory()
    services.membership_add(actor=ana, conversation_id=channel.pk, user_id=follower.pk)
    services.membership_preferences_update(actor=follower, conversation_id=channel.pk,
                                           notification_level="all")
    say(ana, "no mention here")

    deliver()
    assert [m["To"] for m in mailbox.messages] == [follower.email]


def test_do_not_disturb_and_quiet_hours_hold_mail_until_they_end(scene, mailbox):
    ana, ben, _channel, say = scene
    accounts.presence_set(user=ben, status="dnd", dnd_until=later(60))
    say(ana, f"<@{ben.pk}> during dnd")

    assert deliver(later(10)) == 0
    assert deliver(later(61)) == 1
    assert len(mailbox.to(ben.email)) == 1

    accounts.presence_set(user=ben, status="auto")
    ben.refresh_from_db()
    ben.timezone = "Europe/Paris"
    ben.save()
    local = later(0).astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    notifications.notification_preferences_update(
        user=ben, quiet_hours_start=(local - timedelta(hours=1)).time().replace(second=0, microsecond=0),
        quiet_hours_end=(local + timedelta(hours=2)).time().replace(second=0, microsecond=0))
    say(ana, f"<@{ben.pk}> during quiet hours")
    assert deliver(later(20)) == 0
    assert deliver(later(125)) == 1
    assert len(mailbox.to(ben.email)) == 2


def test_muted_conversations_send_nothing(scene, mailbox):
    ana, ben, channel, say = scene
    services.membership_preferences_update(actor=ben, conversation_id=channel.pk, muted=True)
    say(ana, f"<@{ben.pk}> you muted this")
    assert deliver() == 0
    assert mailbox.messages == []


def test_someone_active_in_a_tab_is_not_emailed_yet(scene, mailbox):
    ana, ben, _channel, say = scene
    say(ana, f"<@{ben.pk}> are you there?")
    presence.store().touch(ben.pk, "tab", "active")
    try:
        assert deliver() == 0
    finally:
        presence.store().drop(ben.pk, "tab")
    assert deliver(later(30)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_smtp_server_is_retried_and_the_email_delivered_once(mailbox, real_worker):
    ana, ben = make_user(), make_user()
    channel = make_channel(ana, members=[ben])
    post(ana, channel, f"<@{ben.pk}> important")  # the worker queues the notification
    wait_for(lambda: PendingNotification.objects.filter(user=ben).exists())
    mailbox.refuse = 2

    batch_id = notifications.notification_batch_claim(user_id=ben.pk, now=later(10))
    tasks.send_notification_batch.delay(batch_id)
    wait_for(lambda: NotificationBatch.objects.get(pk=batch_id).sent_at is not None)

    assert mailbox.refused == 2
    assert len(mailbox.to(ben.email)) == 1
    assert NotificationBatch.objects.get(pk=batch_id).attempts == 3
    assert notifications.notification_batch_claim(user_id=ben.pk, now=later(120)) is None
    tasks.send_notification_batch.delay(batch_id)
    time_module.sleep(1)
    assert len(mailbox.messages) == 1


def test_two_workers_racing_send_one_email(scene, mailbox, settings):
    if not settings.TEST_USES_POSTGRES:
        pytest.skip("row locks need PostgreSQL")
    ana, ben, _channel, say = scene
    say(ana, f"<@{ben.pk}> race")
    claims: list[int | None] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        from django.db import connections

        try:
            barrier.wait()
            claims.append(notifications.notification_batch_claim(user_id=ben.pk, now=later(10)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([c for c in claims if c]) <= 1


def test_the_unsubscribe_link_works_without_signing_in_and_cannot_be_guessed(scene, mailbox):
    ana, ben, _channel, say = scene
    say(ana, f"<@{ben.pk}> hello")
    deliver()
    link = re.search(r"https://chat\.example\.com(/notifications/unsubscribe/\S+/)",
                     text_of(mailbox.messages[0])).group(1)
    browser = Client(enforce_csrf_checks=True)

    page = browser.get(link)
    assert page.status_code == 200 and ben.email in page.content.decode()
    tampered = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
    assert browser.get(tampered).status_code == 404
    assert browser.post(tampered).status_code == 404
    forged = link.replace(link.split("/")[3], "eyJ1IjoxfQ:1abcde:forged")
    assert browser.get(forged).status_code == 404
    assert browser.post(link).status_code == 200

    ben.refresh_from_db()
    assert ben.email_notifications is False
    say(ana, f"<@{ben.pk}> again")
    assert deliver(later(60)) == 0
    assert len(mailbox.messages) == 1


def test_preferences_over_the_api(member):
    client = client_for(member)
    response = client.patch("/api/v1/me/notifications/", {
        "notify_default": "all", "daily_digest": True, "quiet_hours_start": "22:00",
        "quiet_hours_end": "07:00"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"notify_default": "all", "email_notifications": True,
                               "daily_digest": True, "quiet_hours_start": "22:00",
                               "quiet_hours_end": "07:00", "notification_preview": "full"}
    half = client.patch("/api/v1/me/notifications/", {"quiet_hours_start": None}, format="json")
    assert half.status_code == 400
    assert client.patch("/api/v1/me/notifications/", {"notify_default": "loud"},
                        format="json").status_code == 400


def test_quiet_hours_across_midnight(member):
    member.timezone = "UTC"
    member.quiet_hours_start, member.quiet_hours_end = time(22, 0), time(7, 0)
    at = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.get_current_timezone())
    assert notifications.quiet_hours_end(member, at) == datetime(2026, 3, 2, 7, 0,
                                                                 tzinfo=at.tzinfo)
    assert notifications.quiet_hours_end(member, at.replace(hour=12)) is None


def test_the_daily_digest_lists_busy_channels_once(scene, mailbox, settings, user_factory):
    ana, ben, _channel, say = scene
    quiet = make_channel(ana, "quiet", members=[ben])
    for n in range(6):
        say(ana, f"launch update {n}")
    say(ana, "one lonely message", quiet)
    notifications.notification_preferences_update(user=ben, daily_digest=True)
    settings.NOTIFY_DIGEST_HOUR = timezone.now().astimezone(
        zoneinfo.ZoneInfo(ben.timezone)).hour

    assert tasks.send_digests.delay().get() == 1
    assert tasks.send_digests.delay().get() == 0

    (digest,) = mailbox.to(ben.email)
    body = text_of(digest)
    assert digest["Subject"] == "Your daily teamchat digest"
    assert body.index("#launch: 6 messages") < body.index("#quiet: 1 message")
