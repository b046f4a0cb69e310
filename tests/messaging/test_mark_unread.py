"""Mark as unread (issue 28): the read position moves back to just before a message, the
counts follow on every device, and nobody moves a position they do not have."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput, NotFound
from messaging import selectors, services
from messaging.models import Membership
from tests.factories import (
    CONVERSATION_KINDS,
    ROLES,
    client_for,
    make_channel,
    make_conversation,
    make_direct,
    make_user,
    post,
)
from tests.realtime import Socket, token_for

pytestmark = pytest.mark.django_db


def position(user, conversation) -> tuple[int, int]:
    membership = Membership.objects.get(user=user, conversation=conversation)
    return membership.last_read_seq, membership.last_read_message_id


def read_all(user, conversation, last) -> None:
    services.read_mark(actor=user, conversation_id=conversation.pk, message_id=last.pk)


def test_the_position_moves_back_to_just_before_the_message(member, other_member):
    channel = make_channel(member, members=[other_member])
    plan = post(member, channel, "the plan")
    budget = post(member, channel, f"the budget <@{other_member.pk}>")
    date = post(member, channel, "the date")
    read_all(other_member, channel, date)

    read = services.read_mark_unread(actor=other_member, message_id=budget.pk)

    assert (read.unread_count, read.mention_count) == (2, 1)
    assert position(other_member, channel) == (budget.seq - 1, plan.pk)
    assert selectors.unread_count(user=other_member, conversation_id=channel.pk) == (2, 1)
    # Reading on moves it forward again as usual.
    read_all(other_member, channel, date)
    assert selectors.unread_count(user=other_member, conversation_id=channel.pk) == (0, 0)


def test_the_first_message_marked_unread_leaves_nothing_read(member, other_member):
    direct = make_direct(member, other_member)
    first = post(member, direct, "hello")
    post(member, direct, "are you there?")
    read_all(other_member, direct, first)

    read = services.read_mark_unread(actor=other_member, message_id=first.pk)

    assert (read.unread_count, read.membership.last_read_message_id) == (2, 0)
    assert position(other_member, direct) == (first.seq - 1, 0)


def test_a_thread_reply_is_refused_naming_the_message_and_nothing_moves(member, other_member):
    channel = make_channel(member, members=[other_member])
    root = post(member, channel, "root")
    reply = post(member, channel, "in the thread", thread_root_id=root.pk)
    read_all(other_member, channel, reply)
    before = position(other_member, channel)

    with pytest.raises(InvalidInput) as refused:
        services.read_mark_unread(actor=other_member, message_id=reply.pk)

    assert list(refused.value.fields) == ["message"]
    assert position(other_member, channel) == before


@pytest.mark.parametrize("kind", CONVERSATION_KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_only_a_member_may_mark_unread(kind, role):
    """Every role, member or not, against every kind of conversation: members move their
    own position; anyone else gets 404 whatever the conversation, and nothing moves."""
    creator, insider = make_user(), make_user(role)
    outsider = make_user(role)
    conversation = make_conversation(kind, creator, insider)
    message = post(creator, conversation, "hello")
    post(creator, conversation, "again")
    before = list(Membership.objects.order_by("pk").values_list("last_read_seq", flat=True))

    with pytest.raises(NotFound):
        services.read_mark_unread(actor=outsider, message_id=message.pk)
    assert list(Membership.objects.order_by("pk").values_list("last_read_seq", flat=True)) == before

    read = services.read_mark_unread(actor=insider, message_id=message.pk)
    assert read.unread_count == 2
    assert position(insider, conversation)[0] == message.seq - 1


def test_over_rest(member, other_member):
    channel = make_channel(member, members=[other_member])
    first = post(member, channel, "one")
    last = post(member, channel, "two")
    read_all(other_member, channel, last)
    client = client_for(other_member)

    answer = client.post(f"/api/v1/messages/{first.pk}/unread/")

    assert answer.status_code == 200
    body = answer.json()
    assert (body["id"], body["unread_count"], body["mention_count"]) == (channel.pk, 2, 0)
    assert body["membership"]["last_read_seq"] == first.seq - 1
    assert client_for(make_user()).post(f"/api/v1/messages/{first.pk}/unread/").status_code == 404
    assert client.post("/api/v1/messages/999999999/unread/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_persons_other_devices_are_told_and_no_one_else(daphne_pair):
    author, reader = make_user(), make_user()
    channel = make_channel(author, members=[reader])
    first = post(author, channel, "one")
    last = post(author, channel, "two")
    read_all(reader, channel, last)
    with Socket(daphne_pair[0].ws_url, token=token_for(reader)) as phone, \
            Socket(daphne_pair[1].ws_url, token=token_for(author)) as others:
        services.read_mark_unread(actor=reader, message_id=first.pk)
        frame = phone.next("read.updated")
        post(author, channel, "a marker after it")
        seen_by_author = others.collect("read.updated", "message.created", seconds=2)

    before_first = first.seq - 1  # the channel's creation, not a message
    assert frame == {"type": "read.updated", "conversation": channel.pk, "seq": last.seq,
                     "last_read_message": 0, "last_read_seq": before_first, "unread_count": 2,
                     "mention_count": 0, "marked_unread": True}
    assert [f["type"] for f in seen_by_author] == ["message.created"]
