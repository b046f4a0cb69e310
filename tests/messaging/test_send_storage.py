"""What a send stores: the message, its event, the conversation's seq and last message
time, the author's read position. On PostgreSQL these are one statement
(events.message_created_record); test_sqlite_stores_the_same runs this file again in the
embedded mode, where they are the ORM's statements."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import services
from messaging.events import message_created_record
from messaging.models import Conversation, ConversationEvent, Membership, Message
from messaging.payloads import message_payload
from messaging.selectors import message_get_for_user
from messaging.services.conversations import lock_conversation
from tests.embedded import rerun_on_sqlite
from tests.factories import make_channel, make_user, post

pytestmark = pytest.mark.django_db


def _reader(user, conversation):
    return Membership.objects.values_list("last_read_seq", "last_read_message_id").get(
        user=user, conversation=conversation)


def test_a_message_is_stored_with_its_event_seq_and_the_authors_read_position():
    ana, bo = make_user(name="Ana"), make_user(name="Bo")
    channel = make_channel(ana, members=[bo])
    seq_before = Conversation.objects.get(pk=channel.pk).last_seq
    bo_before = _reader(bo, channel)

    with CaptureQueriesContext(connection) as queries:
        message = post(ana, channel, "**hello** there", client_msg_id="c-1")

    stored = Message.objects.get(pk=message.pk)
    assert (stored.seq, stored.text, stored.html, stored.client_msg_id, stored.author_id) == (
        seq_before + 1, "**hello** there", message.html, "c-1", ana.pk)
    assert "<strong>hello</strong>" in stored.html
    assert stored.created_at == message.created_at
    assert not message._state.adding and message._state.db == "default"
    event = ConversationEvent.objects.get(conversation=channel, seq=message.seq)
    assert (event.type, event.message_id, event.payload) == ("message.created", message.pk, {})
    conversation = Conversation.objects.get(pk=channel.pk)
    assert (conversation.last_seq, conversation.last_message_at) == (message.seq, message.created_at)
    assert _reader(ana, channel) == (message.seq, message.pk)
    assert _reader(bo, channel) == bo_before  # only the author has read it
    writes = [q["sql"] for q in queries.captured_queries
              if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "WITH"))]
    assert len(writes) == (1 if connection.vendor == "postgresql" else 4)


def test_a_thread_reply_leaves_the_channel_time_and_read_position_unless_also_in_channel():
    ana, bo = make_user(name="Ana"), make_user(name="Bo")
    channel = make_channel(ana, members=[bo])
    root = post(ana, channel, "root")
    at_root = Conversation.objects.get(pk=channel.pk).last_message_at

    reply = post(bo, channel, "in the thread", thread_root_id=root.pk)

    event = ConversationEvent.objects.get(conversation=channel, seq=reply.seq)
    assert (event.type, event.message_id, event.payload) == (
        "message.created", reply.pk, {"thread_root": root.pk})
    conversation = Conversation.objects.get(pk=channel.pk)
    assert (conversation.last_seq, conversation.last_message_at) == (reply.seq, at_root)
    assert _reader(bo, channel)[0] < reply.seq

    shown = post(bo, channel, "and in the channel", thread_root_id=root.pk, also_in_channel=True)

    conversation = Conversation.objects.get(pk=channel.pk)
    assert (conversation.last_seq, conversation.last_message_at) == (shown.seq, shown.created_at)
    assert _reader(bo, channel) == (shown.seq, shown.pk)
    assert Message.objects.get(pk=root.pk).reply_count == 2


def test_a_refused_store_changes_nothing():
    """A retried client_msg_id fails the statement: no event, seq or read position moves."""
    ana = make_user()
    channel = make_channel(ana)
    first = post(ana, channel, "once", client_msg_id="same")
    before = (Conversation.objects.values_list("last_seq", "last_message_at").get(pk=channel.pk),
              ConversationEvent.objects.filter(conversation=channel).count(), _reader(ana, channel))

    again = post(ana, channel, "twice", client_msg_id="same")  # the service answers with the first

    assert again.pk == first.pk and again.text == "once"
    after = (Conversation.objects.values_list("last_seq", "last_message_at").get(pk=channel.pk),
             ConversationEvent.objects.filter(conversation=channel).count(), _reader(ana, channel))
    assert after == before
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=channel, author=ana, seq=first.seq, text="x")


def test_a_new_messages_result_carries_the_payload_its_event_carried():
    """The sender's ack reuses the payload built for the message.created event."""
    ana = make_user()
    channel = make_channel(ana)

    first = services.message_create(author=ana, conversation_id=channel.pk, text="hi *you*",
                                    client_msg_id="p-1")
    retried = services.message_create(author=ana, conversation_id=channel.pk, text="hi *you*",
                                      client_msg_id="p-1")

    reread = message_get_for_user(user=ana, message_id=first.message.pk)
    assert first.created and first.payload == message_payload(reread)
    assert not retried.created and retried.payload is None


def test_without_a_reader_no_read_position_moves():
    """The statement's reader is optional (no membership given: `id = NULL` matches none)."""
    ana, bo = make_user(name="Ana"), make_user(name="Bo")
    channel = make_channel(ana, members=[bo])
    before = {person.pk: _reader(person, channel) for person in (ana, bo)}

    with transaction.atomic():
        conversation = lock_conversation(channel.pk)
        message = Message(conversation=conversation, author=ana, text="quiet", html="<p>quiet</p>",
                          seq=conversation.last_seq + 1, created_at=timezone.now())
        seq = message_created_record(conversation=conversation, message=message,
                                     thread_root=None, reader=None)

    assert {person.pk: _reader(person, channel) for person in (ana, bo)} == before
    assert Conversation.objects.get(pk=channel.pk).last_seq == seq == message.seq
    assert ConversationEvent.objects.get(conversation=channel, seq=seq).message_id == message.pk


def test_sqlite_stores_the_same():
    rerun_on_sqlite(__file__, deselect="sqlite_stores", passed=6)


def test_under_a_django_it_was_not_written_for_a_send_takes_the_orms_statements(monkeypatch):
    from core import compiled

    monkeypatch.setattr(compiled.django, "VERSION", (9, 0, 0, "final", 0))
    ana = make_user(name="Ana")
    channel = make_channel(ana)
    with CaptureQueriesContext(connection) as queries:
        message = post(ana, channel, "still stored", client_msg_id="c-9")
    writes = [q["sql"] for q in queries.captured_queries
              if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "WITH"))]
    assert len(writes) == 4  # the message, the conversation's seq, its event, the reader
    stored = Message.objects.get(pk=message.pk)
    assert (stored.text, stored.seq) == ("still stored", message.seq)
    assert ConversationEvent.objects.filter(conversation=channel, seq=message.seq,
                                            message=message).exists()
    assert _reader(ana, channel) == (message.seq, message.pk)
