"""The Threads view (issue 28): who follows a thread (started, replied, mentioned, by
hand), unread replies per follower, unfollow that sticks, and the live `thread.updated`
frames, told only to followers who may still see the thread."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput, NotFound
from messaging import selectors, services
from messaging.models import ThreadFollow
from tests.factories import client_for, make_channel, make_user, post
from tests.realtime import Socket, token_for

pytestmark = pytest.mark.django_db


def followed(user) -> list[tuple[int, int]]:
    """(root id, unread replies) of each thread the person follows, in the view's order."""
    return [(f.root_id, f.unread) for f, _ in selectors.thread_list(user=user).threads]


def test_starter_repliers_and_mentioned_follow_with_unread_counts(member, other_member):
    third, bystander = make_user(name="Thea Third"), make_user(name="Bea Bystander")
    channel = make_channel(member, members=[other_member, third, bystander])
    root = post(member, channel, "plan for Monday")
    assert followed(member) == []  # a message without replies is not a thread yet

    post(other_member, channel, "I can do it", thread_root_id=root.pk)
    post(other_member, channel, f"<@{third.pk}> can you check?", thread_root_id=root.pk)

    assert followed(member) == [(root.pk, 2)]
    assert followed(other_member) == [(root.pk, 0)]  # their own replies are read
    assert followed(third) == [(root.pk, 2)]  # mentioned: follows, with the thread unread
    assert followed(bystander) == []

    post(member, channel, "thanks", thread_root_id=root.pk)
    assert followed(member) == [(root.pk, 0)]  # replying reads the thread
    assert followed(other_member) == [(root.pk, 1)]
    assert followed(third) == [(root.pk, 3)]
    page = selectors.thread_list(user=third)
    assert page.unread_threads == 1
    assert page.threads[0][1].text == "thanks"  # the newest reply rides along


def test_unfollow_sticks_until_mentioned_or_replying_and_read_moves_forward(member, other_member):
    channel = make_channel(member, members=[other_member])
    root = post(member, channel, "release notes")
    first = post(other_member, channel, "draft is up", thread_root_id=root.pk)
    services.thread_follow(actor=member, message_id=root.pk, following=False)
    post(other_member, channel, "anyone?", thread_root_id=root.pk)
    assert followed(member) == []

    post(other_member, channel, f"<@{member.pk}> please look", thread_root_id=root.pk)
    assert followed(member) == [(root.pk, 3)]  # a mention follows again; all three unread

    services.thread_read(actor=member, message_id=root.pk, reply_id=first.pk)
    assert followed(member) == [(root.pk, 2)]
    services.thread_read(actor=member, message_id=root.pk)
    assert followed(member) == [(root.pk, 0)]
    services.thread_read(actor=member, message_id=root.pk, reply_id=first.pk)
    assert followed(member) == [(root.pk, 0)]  # never backward

    services.thread_follow(actor=member, message_id=root.pk, following=False)
    post(member, channel, "done", thread_root_id=root.pk)
    assert followed(member) == [(root.pk, 0)]  # replying follows again


def test_follow_by_hand_newest_activity_first_and_deleted_replies_not_counted(member, other_member):
    channel = make_channel(member, members=[other_member])
    older = post(other_member, channel, "older thread")
    newer = post(other_member, channel, "newer thread")
    services.thread_follow(actor=member, message_id=older.pk, following=True)
    services.thread_follow(actor=member, message_id=newer.pk, following=True)
    post(other_member, channel, "reply to newer", thread_root_id=newer.pk)
    gone = post(other_member, channel, "reply to older", thread_root_id=older.pk)
    assert followed(member) == [(older.pk, 1), (newer.pk, 1)]

    services.message_delete(actor=other_member, message_id=gone.pk)
    assert followed(member) == [(older.pk, 0), (newer.pk, 1)]


def test_paging_with_a_cursor(member, other_member):
    channel = make_channel(member, members=[other_member])
    roots = [post(member, channel, f"topic {n}") for n in range(5)]
    for root in roots:
        post(other_member, channel, "reply", thread_root_id=root.pk)
    first = selectors.thread_list(user=member, limit=2)
    second = selectors.thread_list(user=member, limit=2, cursor=first.next_cursor)
    third = selectors.thread_list(user=member, limit=2, cursor=second.next_cursor)
    seen = [f.root_id for page in (first, second, third) for f, _ in page.threads]
    assert seen == [r.pk for r in reversed(roots)]
    assert third.next_cursor is None
    with pytest.raises(InvalidInput) as refused:
        selectors.thread_list(user=member, cursor="yesterday")
    assert list(refused.value.fields) == ["cursor"]


def test_out_of_sight_threads_are_not_listed_and_others_cannot_follow(member, other_member):
    private = make_channel(other_member, kind="private", members=[member])
    root = post(member, private, "secret")
    post(other_member, private, "reply", thread_root_id=root.pk)
    assert followed(member) == [(root.pk, 1)]
    services.conversation_leave(actor=member, conversation_id=private.pk)
    assert followed(member) == []
    assert selectors.thread_states(root_id=root.pk).keys() == {other_member.pk}

    outsider = make_user()
    for action in (lambda: services.thread_follow(actor=outsider, message_id=root.pk, following=True),
                   lambda: services.thread_read(actor=outsider, message_id=root.pk)):
        with pytest.raises(NotFound):
            action()
    reply = post(other_member, private, "another", thread_root_id=root.pk)
    with pytest.raises(InvalidInput) as refused:
        services.thread_follow(actor=other_member, message_id=reply.pk, following=True)
    assert list(refused.value.fields) == ["message"]
    with pytest.raises(InvalidInput):
        services.thread_follow(actor=other_member, message_id=root.pk, following="yes")
    assert not ThreadFollow.objects.filter(user=outsider).exists()


def test_over_rest(member, other_member):
    channel = make_channel(member, members=[other_member])
    root = post(member, channel, "question")
    reply = post(other_member, channel, "answer", thread_root_id=root.pk)
    client = client_for(member)

    page = client.get("/api/v1/me/threads/").json()
    assert page["unread_threads"] == 1 and page["next_cursor"] is None
    item = page["results"][0]
    assert (item["root"], item["message"]["text"], item["latest_reply"]["id"], item["unread_replies"],
            item["reply_count"], item["following"]) == (root.pk, "question", reply.pk, 1, 1, True)

    read = client.post(f"/api/v1/messages/{root.pk}/thread-read/", {}, format="json")
    assert read.status_code == 200 and read.json()["unread_replies"] == 0
    assert read.json()["last_read_reply"] == reply.pk
    off = client.put(f"/api/v1/messages/{root.pk}/follow/", {"following": False}, format="json")
    assert off.status_code == 200 and off.json()["following"] is False
    assert client.get("/api/v1/me/threads/").json()["results"] == []

    bad = client.put(f"/api/v1/messages/{root.pk}/follow/", {"following": "maybe"}, format="json")
    assert bad.status_code == 400 and "following" in bad.json()["error"]["fields"]
    bad = client.post(f"/api/v1/messages/{root.pk}/thread-read/", {"reply": root.pk}, format="json")
    assert bad.status_code == 400 and "reply" in bad.json()["error"]["fields"]
    bad = client.get("/api/v1/me/threads/?limit=0")
    assert bad.status_code == 400 and "limit" in bad.json()["error"]["fields"]
    outsider = client_for(make_user(role="guest"))
    assert outsider.put(f"/api/v1/messages/{root.pk}/follow/", {"following": True},
                        format="json").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_followers_hear_of_a_reply_live_and_no_one_else(daphne_pair):
    starter, replier, bystander = make_user(), make_user(), make_user()
    channel = make_channel(starter, members=[replier, bystander])
    root = post(starter, channel, "who has the keys?")
    with Socket(daphne_pair[0].ws_url, token=token_for(starter)) as starters, \
            Socket(daphne_pair[1].ws_url, token=token_for(bystander)) as bystanders:
        post(replier, channel, "I do", thread_root_id=root.pk)
        post(replier, channel, "front desk", thread_root_id=root.pk)
        frames = [starters.next("thread.updated") for _ in range(2)]
        services.thread_read(actor=starter, message_id=root.pk)
        read = starters.next("thread.updated")
        heard = bystanders.collect("thread.updated", seconds=1)

    assert [(f["root"], f["unread_replies"], f["reply_count"]) for f in frames] == [
        (root.pk, 1, 1), (root.pk, 2, 2)]
    assert (read["unread_replies"], read["following"]) == (0, True)
    assert heard == []


def test_who_hears_of_a_thread_is_who_may_see_it_for_every_role_and_kind(member):
    """viewers_among (whom thread.updated and activity.new reach) says what
    permissions.can_view says, person by person, for every role and kind of conversation."""
    from messaging import permissions
    from messaging.models import Membership
    from tests.factories import CONVERSATION_KINDS, ROLES, make_conversation

    for kind in CONVERSATION_KINDS:
        conversation = make_conversation(kind, member, make_user())
        people = [make_user(role) for role in ROLES] + [make_user(role) for role in ROLES]
        for person in people[len(ROLES):]:  # the second of each role is a member
            Membership.objects.get_or_create(user=person, conversation=conversation)
        gone = make_user()
        Membership.objects.create(user=gone, conversation=conversation)
        gone.is_active = False
        gone.save(update_fields=["is_active"])
        people.append(gone)
        expected = {p.pk for p in people if permissions.can_view(
            p, conversation, Membership.objects.filter(user=p, conversation=conversation).first())}
        assert selectors.viewers_among(conversation=conversation,
                                       user_ids=[p.pk for p in people]) == expected
        assert gone.pk not in expected and people[-2].pk in expected
