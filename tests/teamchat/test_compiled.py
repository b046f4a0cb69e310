"""Queries compiled once (teamchat/compiled.py): the same rows and instances as Django's own
evaluation, on PostgreSQL and (through test_sqlite_gives_the_same, which runs this file
again in the embedded mode) on SQLite."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from messaging.models import Conversation, Membership, Message
from messaging.services import conversations
from teamchat.compiled import CompiledQuery
from teamchat.errors import NotFound
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


def test_sqlite_gives_the_same():
    rerun_on_sqlite(__file__, deselect="sqlite_gives", passed=4)
