"""Queries compiled once (core/compiled.py): the same rows and instances as Django's own
evaluation, on PostgreSQL and (through test_sqlite_gives_the_same, which runs this file
again in the embedded mode) on SQLite."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from core.compiled import CompiledQuery
from core.errors import NotFound
from messaging.models import Conversation, Membership, Message, Pin, Reaction
from messaging.payloads import message_payload
from messaging.selectors import (
    conversation_get_for_user,
    message_history,
    messages_by_id,
)
from messaging.services import conversations
from tests.embedded import rerun_on_sqlite
from tests.factories import make_channel, make_user, post

pytestmark = pytest.mark.django_db


def _fields(instance):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_instances_have_the_values_and_types_the_orm_gives():
    ana, bo = make_user(name="Ana"), make_user(name="Bo")
    channel = make_channel(ana, members=[bo])
    post(ana, channel, "hello")
    Membership.objects.filter(user=bo, conversation=channel).update(muted=True, starred=True)
    query = CompiledQuery(Membership, lambda user_id, conversation_id: Membership.objects.filter(
        user_id=user_id, conversation_id=conversation_id)[:1], arity=2)

    for person in (ana, bo):
        compiled = query.first(person.pk, channel.pk)
        expected = Membership.objects.get(user=person, conversation=channel)
        assert _fields(compiled) == _fields(expected)
        assert [type(v) for v in _fields(compiled).values()] == [
            type(v) for v in _fields(expected).values()]
        assert (compiled._state.adding, compiled._state.db) == (False, "default")
    assert query.compiled["default"] is not None  # the compiled SQL ran, not the fallback
    assert query.first(bo.pk, channel.pk + 1000) is None
    # A bool is no id to the compiled SQL: Django's lookup takes it (as 1 or 0).
    assert query.first(True, channel.pk) == Membership.objects.filter(
        user_id=True, conversation_id=channel.pk).first()


def test_the_conversation_lock_is_the_row_locked_and_missing_ids_are_not_found():
    ana = make_user()
    channel = make_channel(ana)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = conversations.lock_conversation(channel.pk)
        with pytest.raises(NotFound):
            conversations.lock_conversation(channel.pk + 1000)
        with pytest.raises(NotFound):
            conversations.lock_conversation(2**70)  # past bigint: matches nothing, as in Django
    assert _fields(locked) == _fields(Conversation.objects.get(pk=channel.pk))
    locking = "FOR UPDATE" in queries.captured_queries[0]["sql"]
    assert locking is connection.features.has_select_for_update


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_is_refused_as_django_refuses_it():
    channel = make_channel(make_user())
    query = CompiledQuery(Conversation, lambda pk: Conversation.objects.select_for_update().filter(
        pk=pk)[:1], write=True)
    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):
            query.first(channel.pk)  # the first call: refused, and nothing compiled for good
        assert "default" not in query.compiled
    with transaction.atomic():
        assert query.first(channel.pk).pk == channel.pk
    assert query.compiled["default"] is not None
    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):
            query.first(channel.pk)
    else:
        assert query.first(channel.pk).pk == channel.pk


def test_rows_and_the_fallback_when_a_value_is_used_twice():
    ana = make_user()
    channel = make_channel(ana)
    first, second = post(ana, channel, "one"), post(ana, channel, "two")
    rows = CompiledQuery(Message, lambda conversation_id: Message.objects.filter(
        conversation_id=conversation_id).order_by("seq").values_list("seq", "text"))
    # The id appears twice among the parameters: no single slot for it, so Django evaluates.
    twice = CompiledQuery(Message, lambda pk: Message.objects.filter(pk=pk).exclude(
        pk=pk + 0).union(Message.objects.filter(pk=pk)))

    assert [tuple(row) for row in rows.rows(channel.pk)] == [(first.seq, "one"), (second.seq, "two")]
    assert rows.compiled["default"] is not None
    assert twice.first(second.pk).pk == second.pk
    assert twice.compiled["default"] is None
    with pytest.raises(TypeError):
        rows.rows(channel.pk, 1)


def test_a_listed_query_is_compiled_once_for_each_length_and_gives_what_django_gives():
    ana, bo = make_user(), make_user()
    channel = make_channel(ana, members=[bo])
    messages = [post(ana, channel, f"m{n}") for n in range(4)]
    for person in (ana, bo):
        for message in messages[1:]:
            Reaction.objects.create(message=message, user=person, emoji="👍")
    query = CompiledQuery(Reaction, lambda ids: Reaction.objects.filter(
        message_id__in=ids).order_by("message_id", "id"), listed=True)
    ids = [message.pk for message in messages]

    for chosen in (ids, ids[2:], ids[::-1], [ids[3], ids[3]], [ids[0]], [ids[1] + 1000] * 2):
        expected = list(Reaction.objects.filter(message_id__in=chosen).order_by("message_id", "id"))
        assert [_fields(r) for r in query.all(chosen)] == [_fields(r) for r in expected]
    assert set(query.compiled) == {("default", 4), ("default", 2), ("default", 1)}
    assert all(query.compiled.values())  # each length ran its compiled SQL
    with CaptureQueriesContext(connection) as queries:
        assert query.all([]) == []  # as Django: nothing to look up, no query
    assert queries.captured_queries == []
    many = ids * 40  # more than MAX_LISTED: Django's own query, nothing compiled
    assert len(query.all(many)) == 6 and ("default", len(many)) not in query.compiled


def test_history_pages_and_the_conversation_read_compiled_are_what_the_orm_reads():
    ana, bo, cy = make_user(), make_user(), make_user()
    channel = make_channel(ana, members=[bo])
    messages = [post(ana, channel, f"m{n}") for n in range(7)]
    post(bo, channel, "a reply kept to its thread", thread_root_id=messages[2].pk)
    shown_reply = post(bo, channel, "a reply also sent to the channel",
                       thread_root_id=messages[2].pk, also_in_channel=True)
    Reaction.objects.create(message=messages[5], user=bo, emoji="🎉")
    Pin.objects.create(message=messages[4], conversation=channel, pinned_by=ana)
    ids = [m.pk for m in messages] + [shown_reply.pk]

    def expected(pks):
        by_id = {m.pk: m for m in Message.objects.filter(pk__in=pks)}
        return [message_payload(by_id[pk]) for pk in pks]

    pages = {
        "newest": ({}, ids[-3:], True, False),
        "before": ({"before": ids[5]}, ids[2:5], True, True),
        "after": ({"after": ids[1]}, ids[2:5], True, True),
        "around": ({"around": ids[4]}, ids[3:6], True, True),
        "all": ({"limit": 50}, ids, False, False),
    }
    for name, (kwargs, pks, has_older, has_newer) in pages.items():
        page = message_history(user=bo, conversation_id=channel.pk, **{"limit": 3, **kwargs})
        assert [message_payload(m) for m in page.messages] == expected(pks), name
        assert (page.has_older, page.has_newer) == (has_older, has_newer), name
    with CaptureQueriesContext(connection) as queries:
        page = message_history(user=bo, conversation_id=channel.pk)
        [message_payload(m) for m in page.messages]
    # The membership with its conversation, the page, then its reactions, files and pins.
    assert len(queries.captured_queries) == 5
    shown = {p["id"]: p for p in expected(ids)}
    assert shown[ids[4]]["pinned"] and not shown[ids[5]]["pinned"]
    assert shown[ids[5]]["reactions"][0]["emoji"] == "🎉"

    conversation, membership = conversation_get_for_user(user=bo, conversation_id=channel.pk)
    assert _fields(membership) == _fields(Membership.objects.get(user=bo, conversation=channel))
    assert _fields(conversation) == _fields(Conversation.objects.get(pk=channel.pk))
    assert membership.conversation is conversation
    assert conversation_get_for_user(user=cy, conversation_id=channel.pk)[1] is None  # public
    for missing in (channel.pk + 1000, 2**70, "nope"):
        with pytest.raises(NotFound):
            conversation_get_for_user(user=bo, conversation_id=missing)


def test_messages_by_id_are_what_the_orm_reads_for_any_number_of_ids():
    ana = make_user()
    channel = make_channel(ana)
    messages = [post(ana, channel, f"m{n}") for n in range(3)]
    Reaction.objects.create(message=messages[0], user=ana, emoji="👀")
    Pin.objects.create(message=messages[1], conversation=channel, pinned_by=ana)
    ids = [m.pk for m in messages]
    expected = {m.pk: message_payload(m) for m in Message.objects.filter(pk__in=ids)}

    for asked in ([*ids, ids[-1] + 1000], ids + list(range(ids[-1] + 1, ids[-1] + 200))):
        found = messages_by_id(asked)  # the second: more ids than a compiled list takes
        assert {pk: message_payload(m) for pk, m in found.items()} == expected
    assert expected[ids[1]]["pinned"] and expected[ids[0]]["reactions"][0]["emoji"] == "👀"


def test_sqlite_gives_the_same():
    rerun_on_sqlite(__file__, deselect="sqlite_gives", passed=8)


def test_under_a_django_it_was_not_written_for_every_query_is_djangos_own(monkeypatch):
    from core import compiled

    assert compiled.django_internals_supported()  # the Django installed here
    monkeypatch.setattr(compiled.django, "VERSION", (9, 0, 0, "final", 0))
    assert not compiled.django_internals_supported()
    ana = make_user(name="Ana")
    channel = make_channel(ana)
    query = CompiledQuery(Membership, lambda user_id, conversation_id: Membership.objects.filter(
        user_id=user_id, conversation_id=conversation_id)[:1], arity=2)
    got = query.first(ana.pk, channel.pk)
    assert _fields(got) == _fields(Membership.objects.get(user=ana, conversation=channel))
    assert query.compiled["default"] is None  # never compiled: Django evaluated it
