"""The Activity view (issue 28): mentions of me and of my groups, replies in threads I
started, reactions to my messages; newest first, filtered by kind, unread until read where
they were written (or, for reactions, until the view is seen), and `activity.new` told
live to the person it happened to, and to no one who cannot see it."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from messaging import selectors, services
from tests.factories import client_for, make_channel, make_user, post
from tests.realtime import Socket, token_for

pytestmark = pytest.mark.django_db


def activity(user, **kwargs) -> list[tuple[str, str, bool]]:
    """(kind, text of the item's message, unread) of each item, newest first."""
    return [(i.kind, i.message.text, i.unread)
            for i in selectors.activity_list(user=user, **kwargs).items]


def test_mentions_replies_and_reactions_newest_first_by_kind(member, other_member):
    channel = make_channel(member, members=[other_member])
    group = services.usergroup_create(actor=make_user(role="admin"), handle="design", name="Design",
                                      member_ids=[member.pk])
    mine = post(member, channel, "my proposal")
    post(other_member, channel, f"<@{member.pk}> have a look")
    post(other_member, channel, "looks good", thread_root_id=mine.pk)
    services.reaction_add(actor=other_member, message_id=mine.pk, emoji_value="👍")
    post(other_member, channel, f"@{group.handle} review please")
    post(other_member, channel, "@channel lunch")  # not a personal mention: not listed
    post(member, channel, "my own reply", thread_root_id=mine.pk)  # my own: not listed
    services.reaction_add(actor=member, message_id=mine.pk, emoji_value="🎉")

    assert activity(member) == [
        ("mention", "@design review please", True),
        ("reaction", "my proposal", True),
        ("reply", "looks good", False),  # I replied after it: read in the thread
        ("mention", f"<@{member.pk}> have a look", True),
    ]
    assert [kind for kind, *_ in activity(member, kind="mention")] == ["mention", "mention"]
    assert activity(member, kind="reaction") == [("reaction", "my proposal", True)]
    kinds = {i.key: (i.mention_kind, i.emoji, i.actor_id)
             for i in selectors.activity_list(user=member).items}
    assert sorted(kinds.values(), key=str) == sorted(
        [("group", None, other_member.pk), (None, "👍", other_member.pk),
         (None, None, other_member.pk), ("user", None, other_member.pk)], key=str)
    with pytest.raises(InvalidInput) as refused:
        selectors.activity_list(user=member, kind="likes")
    assert list(refused.value.fields) == ["kind"]


def test_read_where_written_and_reactions_read_once_the_view_is_seen(member, other_member):
    channel = make_channel(member, members=[other_member])
    mine = post(member, channel, "status")
    services.reaction_add(actor=other_member, message_id=mine.pk, emoji_value="👀")
    mention = post(other_member, channel, f"<@{member.pk}> ping")
    reply = post(other_member, channel, "pong", thread_root_id=mine.pk)
    assert [unread for *_, unread in activity(member)] == [True, True, True]

    services.read_mark(actor=member, conversation_id=channel.pk, message_id=mention.pk)
    services.thread_read(actor=member, message_id=mine.pk, reply_id=reply.pk)
    assert activity(member) == [("reply", "pong", False), ("mention", f"<@{member.pk}> ping", False),
                                ("reaction", "status", True)]
    services.activity_seen(actor=member)
    assert [unread for *_, unread in activity(member)] == [False, False, False]
    services.reaction_add(actor=other_member, message_id=mine.pk, emoji_value="✅")
    assert activity(member, kind="reaction")[0] == ("reaction", "status", True)


def test_paging_and_what_is_out_of_sight(member, other_member):
    private = make_channel(other_member, kind="private", members=[member])
    for n in range(5):
        post(other_member, private, f"<@{member.pk}> item {n}")
    first = selectors.activity_list(user=member, limit=2)
    second = selectors.activity_list(user=member, limit=2, before=first.next_before)
    third = selectors.activity_list(user=member, limit=2, before=second.next_before)
    texts = [i.message.text.split()[-1] for page in (first, second, third) for i in page.items]
    assert texts == ["4", "3", "2", "1", "0"] and third.next_before is None
    with pytest.raises(InvalidInput):
        selectors.activity_list(user=member, before="last week")

    services.conversation_leave(actor=member, conversation_id=private.pk)
    assert activity(member) == []
    deleted = post(other_member, make_channel(other_member, members=[member]), f"<@{member.pk}> oops")
    services.message_delete(actor=other_member, message_id=deleted.pk)
    assert activity(member) == []


def test_over_rest(member, other_member):
    channel = make_channel(member, members=[other_member])
    mine = post(member, channel, "draft")
    services.reaction_add(actor=other_member, message_id=mine.pk, emoji_value="👍")
    client = client_for(member)
    page = client.get("/api/v1/me/activity/").json()
    item = page["results"][0]
    assert (item["kind"], item["emoji"], item["user"], item["unread"], item["message"]["id"],
            item["conversation"]) == ("reaction", "👍", other_member.pk, True, mine.pk, channel.pk)
    assert page["next_before"] is None
    seen = client.post("/api/v1/me/activity/seen/")
    assert seen.status_code == 200 and seen.json()["seen_at"].endswith("Z")
    assert client.get("/api/v1/me/activity/?kind=reaction").json()["results"][0]["unread"] is False
    for query in ("kind=everything", "limit=0", "before=soon"):
        bad = client.get(f"/api/v1/me/activity/?{query}")
        assert bad.status_code == 400 and query.split("=")[0] in bad.json()["error"]["fields"]
    assert client_for(other_member).get("/api/v1/me/activity/").json()["results"] == []


@pytest.mark.django_db(transaction=True)
def test_told_live_to_the_person_and_never_to_someone_out_of_sight(daphne_pair):
    ana, ben, cleo = make_user(), make_user(), make_user()
    channel = make_channel(ana, kind="private", members=[ben, cleo])
    root = post(cleo, channel, "cleo's question")
    services.conversation_leave(actor=cleo, conversation_id=channel.pk)
    mine = post(ana, channel, "ana's note")
    with Socket(daphne_pair[0].ws_url, token=token_for(ana)) as anas, \
            Socket(daphne_pair[1].ws_url, token=token_for(cleo)) as cleos:
        mention = post(ben, channel, f"<@{ana.pk}> see this")
        services.reaction_add(actor=ben, message_id=mine.pk, emoji_value="👍")
        reply = post(ben, channel, "answer", thread_root_id=mine.pk)
        post(ben, channel, "for cleo, who left", thread_root_id=root.pk)
        frames = [anas.next("activity.new") for _ in range(3)]
        services.activity_seen(actor=ana)
        seen = anas.next("activity.seen")
        heard = cleos.collect("activity.new", seconds=1)

    assert [(f["kind"], f["message"], f["user"]) for f in frames] == [
        ("mention", mention.pk, ben.pk), ("reaction", mine.pk, ben.pk), ("reply", reply.pk, ben.pk)]
    assert seen["seen_at"].endswith("Z")
    assert heard == []
