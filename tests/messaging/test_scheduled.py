"""Scheduled messages (issue 28): "send at" with the author's time zone and rights at
send time, edited or cancelled before they go, sent once however many workers try, and
the author told when one could not be sent."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from accounts import services as accounts
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import AuditEvent
from messaging import selectors, services, tasks
from messaging.models import Message, ScheduledMessage, ScheduledState
from messaging.services import scheduled as scheduled_service
from tests.factories import client_for, make_channel, make_direct, make_user, post
from tests.messaging.conftest import of_type

pytestmark = pytest.mark.django_db


def in_an_hour() -> str:
    return (timezone.now() + timedelta(hours=1)).isoformat()


def schedule(author, conversation, text="later", when=None, **kwargs) -> ScheduledMessage:
    return services.scheduled_create(actor=author, conversation_id=conversation.pk, text=text,
                                     send_at=when or in_an_hour(), **kwargs)


def test_a_time_without_offset_is_the_authors_local_time_and_whole_minutes(member):
    accounts.user_profile_update(user=member, timezone="Europe/Berlin")
    channel = make_channel(member)
    tomorrow = (timezone.now() + timedelta(days=1)).date()

    local = schedule(member, channel, when=f"{tomorrow}T09:00:42")
    given = schedule(member, channel, when=f"{tomorrow}T09:00:59.5-05:00")

    berlin = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    assert local.send_at == berlin.astimezone(UTC)
    assert given.send_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize("changes, field", [
    ({"text": "   "}, "text"),
    ({"text": 5}, "text"),
    ({"text": "a" * 40_001}, "text"),
    ({"send_at": "2001-01-01T10:00:00Z"}, "send_at"),
    ({"send_at": "tomorrow at nine"}, "send_at"),
    ({"send_at": None}, "send_at"),
    ({"send_at": "far"}, "send_at"),
    ({"thread_root": "x"}, "thread_root"),
    ({"thread_root": 2**40}, "thread_root"),
])
def test_bad_input_names_the_field_and_keeps_nothing(member, frames, changes, field):
    channel = make_channel(member)
    arguments = {"actor": member, "conversation_id": channel.pk, "text": "hello",
                 "send_at": in_an_hour(), **changes}
    if arguments.get("send_at") == "far":
        arguments["send_at"] = (timezone.now() + timedelta(days=121)).isoformat()
    if "thread_root" in arguments:
        arguments["thread_root_id"] = arguments.pop("thread_root")

    with pytest.raises(InvalidInput) as refused:
        services.scheduled_create(**arguments)

    assert list(refused.value.fields) == [field]
    assert not ScheduledMessage.objects.exists()
    assert frames == {}


def test_the_author_must_be_able_to_post_there_now(member, other_member, guest):
    public = make_channel(other_member)
    private = make_channel(other_member, kind="private")
    archived = make_channel(member)
    services.conversation_update(actor=member, conversation_id=archived.pk, archived=True)

    with pytest.raises(Forbidden) as not_member:
        schedule(member, public)
    with pytest.raises(NotFound):
        schedule(member, private)
    with pytest.raises(NotFound):
        schedule(guest, public)
    with pytest.raises(Forbidden) as closed:
        schedule(member, archived)

    assert (not_member.value.code, closed.value.code) == ("not_a_member", "archived")
    assert not ScheduledMessage.objects.exists()


def test_no_scheduled_message_in_an_end_to_end_encrypted_conversation(member, other_member):
    from messaging.models import Conversation

    sealed = make_direct(member, other_member)
    Conversation.objects.filter(pk=sealed.pk).update(encrypted=True)
    with pytest.raises(Conflict) as refused:
        schedule(member, sealed)
    assert refused.value.code == "encrypted"
    assert not ScheduledMessage.objects.exists()


def test_sent_at_its_minute_as_the_author_once(member, other_member, frames,
                                              django_capture_on_commit_callbacks):
    channel = make_channel(member, members=[other_member])
    root = post(other_member, channel, "the plan")
    with django_capture_on_commit_callbacks(execute=True):
        waiting = schedule(member, channel, "Reminder: standup :rocket:", thread_root_id=root.pk)
    assert services.scheduled_send_due(now=waiting.send_at - timedelta(seconds=1)) == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert services.scheduled_send_due(now=waiting.send_at) == 1
    assert services.scheduled_send_due(now=waiting.send_at + timedelta(minutes=5)) == 0

    waiting.refresh_from_db()
    message = Message.objects.get(author=member)
    assert (waiting.state, waiting.message_id) == (ScheduledState.SENT, message.pk)
    assert (message.text, message.thread_root_id, message.client_msg_id) == (
        "Reminder: standup :rocket:", root.pk, f"sched-{waiting.pk}")
    assert "🚀" in message.html
    states = [f["scheduled"]["state"] for f in of_type(frames, member, "scheduled.updated")]
    assert states == ["pending", "sent"]
    assert of_type(frames, other_member, "scheduled.updated") == []
    audit = AuditEvent.objects.get(action="scheduled_message.sent")
    assert (audit.actor_id, audit.data["message"]) == (member.pk, message.pk)


def test_the_task_for_the_minute_and_the_sweep_together_send_one_message(member):
    channel = make_channel(member)
    waiting = schedule(member, channel)
    ScheduledMessage.objects.filter(pk=waiting.pk).update(send_at=timezone.now() - timedelta(seconds=1))

    tasks.send_scheduled_message.apply(args=[waiting.pk, waiting.send_at.isoformat()])
    tasks.send_due_scheduled.apply()
    tasks.send_scheduled_message.apply(args=[waiting.pk, waiting.send_at.isoformat()])

    assert Message.objects.filter(author=member).count() == 1
    assert ScheduledMessage.objects.get(pk=waiting.pk).state == ScheduledState.SENT


@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_one_row_send_it_once(settings):
    if not settings.TEST_USES_POSTGRES:
        pytest.skip("row locks need PostgreSQL")
    author = make_user()
    channel = make_channel(author)
    waiting = schedule(author, channel)
    due = waiting.send_at + timedelta(seconds=1)
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def worker() -> None:
        from django.db import connections

        try:
            barrier.wait()
            outcomes.append(services.scheduled_send(scheduled_id=waiting.pk, now=due))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Message.objects.filter(author=author).count() == 1
    assert len([o for o in outcomes if o is not None]) == 1


@pytest.mark.parametrize("loss, code, reason", [
    ("removed", "not_found", "You can no longer see this conversation."),
    ("left_public", "not_a_member", "You are no longer a member of this conversation."),
    ("archived", "archived", "The conversation was archived."),
    ("deactivated", "deactivated", "Your account was deactivated."),
])
def test_lost_access_is_not_sent_and_the_author_is_told(member, admin, frames, loss, code, reason,
                                                      django_capture_on_commit_callbacks):
    kind = "public" if loss == "left_public" else "private"
    channel = make_channel(admin, kind=kind, members=[member])
    waiting = schedule(member, channel, "the secret plan")
    if loss == "removed":
        services.membership_remove(actor=admin, conversation_id=channel.pk, user_id=member.pk)
    elif loss == "left_public":
        services.conversation_leave(actor=member, conversation_id=channel.pk)
    elif loss == "archived":
        services.conversation_update(actor=admin, conversation_id=channel.pk, archived=True)
    else:
        accounts.user_deactivate(actor=admin, user=member)
    frames.clear()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.scheduled_send_due(now=waiting.send_at) == 0

    waiting.refresh_from_db()
    assert (waiting.state, waiting.failure_code, waiting.failure_reason) == (
        ScheduledState.FAILED, code, reason)
    assert not Message.objects.filter(author=member, text="the secret plan").exists()
    told = of_type(frames, member, "scheduled.updated")
    assert [(f["scheduled"]["state"], f["detail"]) for f in told] == [
        ("failed", f"Your scheduled message was not sent: {reason}")]
    emailed = [m for m in mail.outbox if m.to == [member.email]]
    if loss == "deactivated":
        assert emailed == []
    else:
        assert len(emailed) == 1 and reason in emailed[0].body and "the secret plan" in emailed[0].body
    assert AuditEvent.objects.filter(action="scheduled_message.failed", data__code=code).count() == 1
    # Not tried again.
    assert services.scheduled_send_due(now=waiting.send_at + timedelta(minutes=1)) == 0


def test_edit_and_cancel_while_waiting_and_never_after(member, frames):
    channel = make_channel(member)
    waiting = schedule(member, channel, "first words")
    first_time = waiting.send_at
    later = (first_time + timedelta(hours=2)).isoformat()

    edited = services.scheduled_edit(actor=member, scheduled_id=waiting.pk, text="better words",
                                     send_at=later)

    assert (edited.text, edited.send_at) == ("better words", first_time + timedelta(hours=2))
    assert services.scheduled_send_due(now=first_time + timedelta(minutes=1)) == 0  # moved later
    assert services.scheduled_send_due(now=edited.send_at) == 1
    assert Message.objects.get(author=member).text == "better words"
    with pytest.raises(Conflict) as sent:
        services.scheduled_edit(actor=member, scheduled_id=waiting.pk, text="too late")
    assert sent.value.code == "already_sent"

    other = schedule(member, channel, "never mind")
    services.scheduled_cancel(actor=member, scheduled_id=other.pk)
    assert services.scheduled_send_due(now=other.send_at + timedelta(minutes=1)) == 0
    with pytest.raises(Conflict):
        services.scheduled_cancel(actor=member, scheduled_id=other.pk)
    assert ScheduledMessage.objects.get(pk=other.pk).state == ScheduledState.CANCELLED
    assert Message.objects.filter(author=member).count() == 1


def test_a_bad_edit_changes_nothing(member):
    channel = make_channel(member)
    waiting = schedule(member, channel, "keep me")
    for changes, field in (({"text": " "}, "text"), ({"send_at": "yesterday"}, "send_at"),
                           ({}, "text")):
        with pytest.raises(InvalidInput) as refused:
            services.scheduled_edit(actor=member, scheduled_id=waiting.pk, **changes)
        assert field in refused.value.fields
    kept = ScheduledMessage.objects.get(pk=waiting.pk)
    assert (kept.text, kept.send_at, kept.updated_at) == (waiting.text, waiting.send_at, waiting.updated_at)


def test_only_the_author_knows_a_scheduled_message(member, other_member):
    channel = make_channel(member, members=[other_member])
    waiting = schedule(member, channel)
    for wrong in (waiting.pk, "x", 2**70, -1):
        with pytest.raises(NotFound):
            services.scheduled_edit(actor=other_member, scheduled_id=wrong, text="mine now")
        with pytest.raises(NotFound):
            services.scheduled_cancel(actor=other_member, scheduled_id=wrong)
        with pytest.raises(NotFound):
            selectors.scheduled_get_for_user(user=other_member, scheduled_id=wrong)
    assert selectors.scheduled_list(user=other_member) == []
    assert ScheduledMessage.objects.get(pk=waiting.pk).text == "later"


def test_a_rate_limited_send_waits_for_the_next_sweep(member, settings, monkeypatch):
    from core.errors import RateLimited

    channel = make_channel(member)
    waiting = schedule(member, channel)

    def refuse(*args, **kwargs):
        raise RateLimited("Too many messages.", retry_after=30)

    monkeypatch.setattr("messaging.services.messages.ratelimit.enforce", refuse)
    assert services.scheduled_send_due(now=waiting.send_at) == 0
    assert ScheduledMessage.objects.get(pk=waiting.pk).state == ScheduledState.PENDING
    monkeypatch.undo()
    assert services.scheduled_send_due(now=waiting.send_at + timedelta(minutes=1)) == 1


def test_a_far_time_publishes_no_task_and_the_sweep_sends_it(member, monkeypatch):
    published: list[tuple] = []
    monkeypatch.setattr(tasks.send_scheduled_message, "apply_async",
                        lambda args, eta: published.append((args[0], eta)))
    channel = make_channel(member)
    soon = (timezone.now() + timedelta(minutes=10)).isoformat()
    far = (timezone.now() + timedelta(days=3)).isoformat()
    scheduled_service._publish(1, datetime.fromisoformat(soon))
    scheduled_service._publish(2, datetime.fromisoformat(far))
    assert [p[0] for p in published] == [1]
    far_one = schedule(member, channel, when=far)
    assert services.scheduled_send_due(now=far_one.send_at) == 1


def test_over_rest(member, other_member):
    channel = make_channel(member)
    client = client_for(member)
    tomorrow = (timezone.now() + timedelta(days=1)).date()

    created = client.post("/api/v1/me/scheduled/", {"conversation": channel.pk, "text": "Morning!",
                                                    "send_at": f"{tomorrow}T09:30"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["text"], body["state"], body["send_at"], body["message"]) == (
        "Morning!", "pending", f"{tomorrow}T09:30:00Z", None)
    edited = client.patch(f"/api/v1/me/scheduled/{body['id']}/", {"text": "Good morning!"}, format="json")
    assert edited.json()["text"] == "Good morning!"
    assert [s["id"] for s in client.get("/api/v1/me/scheduled/").json()["results"]] == [body["id"]]
    assert client.get(f"/api/v1/me/scheduled/{body['id']}/").json()["text"] == "Good morning!"

    bad = client.post("/api/v1/me/scheduled/", {"conversation": channel.pk, "text": "x",
                                                "send_at": "2000-01-01T00:00Z"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {"send_at": ["Must be in the future."]}
    stranger = client_for(other_member)
    assert stranger.get(f"/api/v1/me/scheduled/{body['id']}/").status_code == 404
    assert stranger.patch(f"/api/v1/me/scheduled/{body['id']}/", {"text": "x"},
                          format="json").status_code == 404
    assert stranger.delete(f"/api/v1/me/scheduled/{body['id']}/").status_code == 404

    assert client.delete(f"/api/v1/me/scheduled/{body['id']}/").status_code == 204
    assert client.get("/api/v1/me/scheduled/").json()["results"] == []
    assert [s["state"] for s in client.get("/api/v1/me/scheduled/?state=cancelled").json()["results"]] == [
        "cancelled"]
    again = client.delete(f"/api/v1/me/scheduled/{body['id']}/")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_cancelled")
    assert client.get("/api/v1/me/scheduled/?state=soon").status_code == 400
