"""Reminders (issue 28): "remind me about this message" in some minutes or at a time,
delivered once as a notification to the person only, and only while they may still see
the message; and, with a real Celery worker, a scheduled message sent and a reminder
delivered by the worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from accounts import presence
from accounts import services as accounts
from core.errors import Conflict, InvalidInput, NotFound
from messaging import selectors, services
from messaging.models import Message, Reminder, ReminderState, ScheduledMessage, ScheduledState
from tests.factories import client_for, make_channel, make_user, post, wait_for
from tests.messaging.conftest import of_type

pytestmark = pytest.mark.django_db


def test_in_minutes_or_at_a_time_and_asking_again_moves_it(member):
    accounts.user_profile_update(user=member, timezone="America/New_York")
    channel = make_channel(member)
    message = post(member, channel, "call the bank")
    before = timezone.now()

    soon, created = services.reminder_set(actor=member, message_id=message.pk, in_minutes=20)
    tomorrow = (timezone.now() + timedelta(days=1)).date()
    moved, again = services.reminder_set(actor=member, message_id=message.pk,
                                         remind_at=f"{tomorrow}T09:00:30")

    assert created and not again and moved.pk == soon.pk
    assert before + timedelta(minutes=19) < soon.remind_at <= timezone.now() + timedelta(minutes=20)
    local = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=ZoneInfo("America/New_York"))
    assert Reminder.objects.get().remind_at == local.astimezone(UTC)
    assert [(r.pk, m.pk) for r, m in selectors.reminder_list(user=member)] == [(soon.pk, message.pk)]


@pytest.mark.parametrize("arguments, fields", [
    ({}, {"in_minutes", "remind_at"}),
    ({"in_minutes": 5, "remind_at": "2030-01-01T09:00"}, {"in_minutes", "remind_at"}),
    ({"in_minutes": 0}, {"in_minutes"}),
    ({"in_minutes": True}, {"in_minutes"}),
    ({"in_minutes": "20"}, {"in_minutes"}),
    ({"in_minutes": 200_000}, {"in_minutes"}),
    ({"remind_at": "2001-01-01T09:00Z"}, {"remind_at"}),
    ({"remind_at": "noon"}, {"remind_at"}),
])
def test_bad_times_name_the_field_and_keep_nothing(member, frames, arguments, fields):
    message = post(member, make_channel(member), "x")
    with pytest.raises(InvalidInput) as refused:
        services.reminder_set(actor=member, message_id=message.pk, **arguments)
    assert set(refused.value.fields) == fields
    assert not Reminder.objects.exists()
    assert frames == {}


def test_only_about_a_message_you_may_see(member, other_member, guest):
    private = make_channel(other_member, kind="private")
    public = make_channel(other_member)
    hidden, open_one = post(other_member, private, "board"), post(other_member, public, "all")
    for actor, message in ((member, hidden), (guest, open_one)):
        with pytest.raises(NotFound):
            services.reminder_set(actor=actor, message_id=message.pk, in_minutes=5)
    reminder, _ = services.reminder_set(actor=member, message_id=open_one.pk, in_minutes=5)
    assert reminder.user_id == member.pk  # a public channel's message: anyone may be reminded
    services.message_delete(actor=other_member, message_id=open_one.pk)
    with pytest.raises(NotFound):
        services.reminder_set(actor=member, message_id=open_one.pk, in_minutes=5)


def test_delivered_once_to_the_person_only_with_the_message(member, other_member, frames,
                                                          django_capture_on_commit_callbacks):
    channel = make_channel(other_member, "launch", members=[member])
    message = post(other_member, channel, "ship **it**")
    reminder, _ = services.reminder_set(actor=member, message_id=message.pk, in_minutes=20)
    presence.store().touch(member.pk, "tab", "active")
    try:
        assert services.reminders_deliver_due(now=reminder.remind_at - timedelta(seconds=1)) == 0
        with django_capture_on_commit_callbacks(execute=True):
            assert services.reminders_deliver_due(now=reminder.remind_at) == 1
        assert services.reminders_deliver_due(now=reminder.remind_at + timedelta(minutes=1)) == 0
    finally:
        presence.store().drop(member.pk, "tab")

    due = of_type(frames, member, "reminder.due")
    assert len(due) == 1
    assert due[0]["conversation_name"] == "#launch"
    assert (due[0]["reminder"]["id"], due[0]["reminder"]["state"]) == (reminder.pk, "delivered")
    assert due[0]["reminder"]["message"]["html"] == "<p>ship <strong>it</strong></p>"
    assert of_type(frames, other_member, "reminder.due") == []
    reminder.refresh_from_db()
    assert reminder.state == ReminderState.DELIVERED and reminder.delivered_at is not None
    assert mail.outbox == []  # active in a tab: the notification is there
    assert [r.pk for r, _ in selectors.reminder_list(user=member, state="delivered")] == [reminder.pk]


def test_emailed_when_no_browser_is_active(member, other_member, django_capture_on_commit_callbacks):
    channel = make_channel(other_member, members=[member])
    message = post(other_member, channel, "the contract is ready")
    reminder, _ = services.reminder_set(actor=member, message_id=message.pk, in_minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        services.reminders_deliver_due(now=reminder.remind_at)
    assert [m.to for m in mail.outbox] == [[member.email]]
    assert "the contract is ready" in mail.outbox[0].body
    assert mail.outbox[0].subject == f"Reminder: a message from {other_member.display_name}"


def test_a_message_out_of_sight_at_delivery_is_not_delivered(member, other_member, frames,
                                                            django_capture_on_commit_callbacks):
    private = make_channel(other_member, kind="private", members=[member])
    message = post(other_member, private, "for members")
    reminder, _ = services.reminder_set(actor=member, message_id=message.pk, in_minutes=5)
    services.membership_remove(actor=other_member, conversation_id=private.pk, user_id=member.pk)
    frames.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.reminders_deliver_due(now=reminder.remind_at) == 0

    reminder.refresh_from_db()
    assert reminder.state == ReminderState.DROPPED
    assert of_type(frames, member, "reminder.due") == []
    assert [f["state"] for f in of_type(frames, member, "reminder.updated")] == ["dropped"]
    assert mail.outbox == []


def test_cancel_and_only_your_own(member, other_member):
    channel = make_channel(member, members=[other_member])
    message = post(member, channel, "x")
    reminder, _ = services.reminder_set(actor=member, message_id=message.pk, in_minutes=5)
    for wrong in (reminder.pk, "x", 2**70, 0):
        with pytest.raises(NotFound):
            services.reminder_cancel(actor=other_member, reminder_id=wrong)
    assert selectors.reminder_list(user=other_member) == []
    services.reminder_cancel(actor=member, reminder_id=reminder.pk)
    with pytest.raises(Conflict):
        services.reminder_cancel(actor=member, reminder_id=reminder.pk)
    assert services.reminders_deliver_due(now=reminder.remind_at) == 0
    assert Reminder.objects.get().state == ReminderState.CANCELLED
    # A new one may be set once the old one is no longer waiting.
    services.reminder_set(actor=member, message_id=message.pk, in_minutes=5)
    assert Reminder.objects.count() == 2


def test_over_rest(member, other_member):
    channel = make_channel(member)
    message = post(member, channel, "renew the certificate")
    client = client_for(member)

    created = client.post("/api/v1/me/reminders/", {"message": message.pk, "in_minutes": 20}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["message_id"], body["conversation"], body["state"], body["message"]["text"]) == (
        message.pk, channel.pk, "pending", "renew the certificate")
    too_far = client.post("/api/v1/me/reminders/", {"message": message.pk, "remind_at": "2099-01-01T09:00Z"},
                          format="json")
    assert too_far.status_code == 400
    assert too_far.json()["error"]["fields"] == {"remind_at": ["At most 120 days ahead."]}
    listed = client.get("/api/v1/me/reminders/").json()["results"]
    assert [r["id"] for r in listed] == [body["id"]]
    assert client.get("/api/v1/me/reminders/?state=later").status_code == 400

    stranger = client_for(other_member)
    theirs = stranger.post("/api/v1/me/reminders/", {"message": message.pk, "in_minutes": 5}, format="json")
    assert theirs.status_code == 201  # a public channel's message
    assert [r["id"] for r in client.get("/api/v1/me/reminders/").json()["results"]] == [body["id"]]
    assert stranger.delete(f"/api/v1/me/reminders/{body['id']}/").status_code == 404
    assert client.delete(f"/api/v1/me/reminders/{body['id']}/").status_code == 204
    assert client.get("/api/v1/me/reminders/").json()["results"] == []


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_a_scheduled_message_and_delivers_a_reminder(real_worker, frames):
    """The tasks published for the minute, run by a real worker. So that the test does not
    wait for the next minute, the rows are brought to a few seconds from now (the services
    take only whole minutes ahead) before their tasks are published."""
    from messaging.services import reminders as reminder_service
    from messaging.services import scheduled as scheduled_service

    author, reader = make_user(), make_user()
    channel = make_channel(author, members=[reader])
    note = post(author, channel, "the quarterly numbers")
    waiting = services.scheduled_create(actor=author, conversation_id=channel.pk, text="sent by the worker",
                                        send_at=(timezone.now() + timedelta(hours=1)).isoformat())
    reminder, _ = services.reminder_set(actor=reader, message_id=note.pk, in_minutes=30)
    soon = timezone.now() + timedelta(seconds=2)
    ScheduledMessage.objects.filter(pk=waiting.pk).update(send_at=soon)
    Reminder.objects.filter(pk=reminder.pk).update(remind_at=soon)

    scheduled_service._publish(waiting.pk, soon)
    reminder_service._publish(reminder.pk, soon)
    wait_for(lambda: ScheduledMessage.objects.get(pk=waiting.pk).state == ScheduledState.SENT, seconds=30)
    wait_for(lambda: Reminder.objects.get(pk=reminder.pk).state == ReminderState.DELIVERED, seconds=30)

    sent = Message.objects.get(author=author, client_msg_id=f"sched-{waiting.pk}")
    assert sent.text == "sent by the worker"
    assert sent.created_at >= soon
    assert Reminder.objects.get(pk=reminder.pk).delivered_at >= soon
    wait_for(lambda: of_type(frames, reader, "reminder.due"))
    assert [f["reminder"]["message"]["id"] for f in of_type(frames, reader, "reminder.due")] == [note.pk]
    # The minute's sweep after them finds nothing left to do.
    assert services.scheduled_send_due() == services.reminders_deliver_due() == 0
    assert Message.objects.filter(author=author, text="sent by the worker").count() == 1
