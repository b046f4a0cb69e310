"""Drafts on every device (issue 28): kept on the server per conversation and thread,
told to the person's other browsers, never for an encrypted conversation, and only ever
the person's own."""

from __future__ import annotations

import pytest

from accounts.models import Role
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from messaging import selectors, services
from messaging.models import Conversation, Draft
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


def drafts_of(user) -> dict[tuple[int, int], str]:
    return {(d.conversation_id, d.thread_root_id): d.text for d in Draft.objects.filter(user=user)}


def test_a_draft_per_conversation_and_per_thread(member, other_member):
    channel = make_channel(member, members=[other_member])
    root = post(other_member, channel, "a thread")

    services.draft_save(actor=member, conversation_id=channel.pk, text="half a thought\n")
    services.draft_save(actor=member, conversation_id=channel.pk, thread_root_id=root.pk,
                        text="a reply")
    services.draft_save(actor=member, conversation_id=channel.pk, text="a whole thought\n")

    assert drafts_of(member) == {(channel.pk, 0): "a whole thought\n", (channel.pk, root.pk): "a reply"}
    assert drafts_of(other_member) == {}
    listed = selectors.draft_list(user=member)
    assert [(d.thread_root_id, d.text) for d in listed] == [(0, "a whole thought\n"), (root.pk, "a reply")]


def test_empty_text_or_a_clear_removes_the_draft(member):
    channel = make_channel(member)
    services.draft_save(actor=member, conversation_id=channel.pk, text="soon")
    assert services.draft_save(actor=member, conversation_id=channel.pk, text="  \n ") is None
    assert drafts_of(member) == {}
    services.draft_save(actor=member, conversation_id=channel.pk, text="again")
    assert services.draft_clear(actor=member, conversation_id=channel.pk) is True
    assert services.draft_clear(actor=member, conversation_id=channel.pk) is False
    assert drafts_of(member) == {}


@pytest.mark.parametrize(("text", "thread_root", "field"), [
    (None, None, "text"), (7, None, "text"), ("x" * 40001, None, "text"), ("a\x00b", None, "text"),
    ("fine", "abc", "thread_root"), ("fine", 2**64, "thread_root"), ("fine", -3, "thread_root"),
])
def test_bad_input_names_the_field_and_keeps_nothing(member, text, thread_root, field):
    channel = make_channel(member)
    with pytest.raises(InvalidInput) as refused:
        services.draft_save(actor=member, conversation_id=channel.pk, thread_root_id=thread_root,
                            text=text)
    assert list(refused.value.fields) == [field]
    assert drafts_of(member) == {}


@pytest.mark.parametrize("origin", ["a tab", "x" * 65, 7, "tab\n"])
def test_a_bad_origin_names_the_field_and_keeps_nothing(member, origin):
    channel = make_channel(member)
    with pytest.raises(InvalidInput) as refused:
        services.draft_save(actor=member, conversation_id=channel.pk, text="hi", origin=origin)
    assert list(refused.value.fields) == ["origin"]
    assert drafts_of(member) == {}


def test_a_thread_of_another_conversation_or_a_reply_is_not_a_thread_root(member):
    channel, elsewhere = make_channel(member), make_channel(member)
    root = post(member, elsewhere, "root")
    reply = post(member, channel, "reply", thread_root_id=post(member, channel, "r").pk)
    for wrong in (root, reply):
        with pytest.raises(InvalidInput):
            services.draft_save(actor=member, conversation_id=channel.pk, thread_root_id=wrong.pk,
                                text="x")
    assert drafts_of(member) == {}


def test_an_encrypted_conversation_keeps_no_draft_on_the_server(member, other_member):
    direct = make_direct(member, other_member)
    Conversation.objects.filter(pk=direct.pk).update(encrypted=True)
    with pytest.raises(Conflict) as refused:
        services.draft_save(actor=member, conversation_id=direct.pk, text="secret")
    assert refused.value.code == "encrypted"
    assert drafts_of(member) == {}


def test_archived_and_left_conversations(member, admin):
    channel = make_channel(member)
    services.draft_save(actor=member, conversation_id=channel.pk, text="before it closed")
    services.conversation_update(actor=member, conversation_id=channel.pk, archived=True)
    with pytest.raises(Forbidden):
        services.draft_save(actor=member, conversation_id=channel.pk, text="after")
    # Left: not listed any more, and still the person's own to clear.
    other = make_channel(admin, members=[member])
    services.draft_save(actor=member, conversation_id=other.pk, text="never sent")
    services.conversation_leave(actor=member, conversation_id=other.pk)
    assert other.pk not in {d.conversation_id for d in selectors.draft_list(user=member)}
    assert services.draft_clear(actor=member, conversation_id=other.pk) is True


@pytest.mark.parametrize("kind", CONVERSATION_KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_only_a_member_keeps_a_draft_and_only_their_own(kind, role):
    """Every role, member or not, against every kind of conversation."""
    creator, insider, outsider = make_user(), make_user(role), make_user(role)
    conversation = make_conversation(kind, creator, insider)
    services.draft_save(actor=creator, conversation_id=conversation.pk, text="the creator's")

    with pytest.raises((NotFound, Forbidden)) as refused:
        services.draft_save(actor=outsider, conversation_id=conversation.pk, text="in")
    visible = kind == "public" and role != Role.GUEST
    assert isinstance(refused.value, Forbidden if visible else NotFound)
    assert services.draft_clear(actor=outsider, conversation_id=conversation.pk) is False

    services.draft_save(actor=insider, conversation_id=conversation.pk, text="mine")
    assert drafts_of(insider) == {(conversation.pk, 0): "mine"}
    assert drafts_of(creator) == {(conversation.pk, 0): "the creator's"}
    assert drafts_of(outsider) == {}


def test_over_rest(member):
    channel = make_channel(member)
    root = post(member, channel, "root")
    client = client_for(member)

    kept = client.put(f"/api/v1/conversations/{channel.pk}/draft/",
                      {"text": "a reply\n", "thread_root": root.pk})
    assert kept.status_code == 200
    assert {k: kept.json()[k] for k in ("conversation", "thread_root", "text")} == {
        "conversation": channel.pk, "thread_root": root.pk, "text": "a reply\n"}
    listed = client.get("/api/v1/me/drafts/").json()["results"]
    assert [(d["thread_root"], d["text"]) for d in listed] == [(root.pk, "a reply\n")]
    assert client.put(f"/api/v1/conversations/{channel.pk}/draft/", {"text": ""}).status_code == 204
    assert client.delete(f"/api/v1/conversations/{channel.pk}/draft/?thread_root={root.pk}"
                         ).status_code == 204
    assert client.get("/api/v1/me/drafts/").json()["results"] == []
    refused = client.put(f"/api/v1/conversations/{channel.pk}/draft/", {"thread_root": root.pk})
    assert refused.status_code == 400 and "text" in refused.json()["error"]["fields"]
    assert client_for(make_user()).get("/api/v1/me/drafts/").json()["results"] == []


@pytest.mark.django_db(transaction=True)
def test_the_persons_other_browsers_are_told_and_no_one_else(daphne_pair):
    writer, colleague = make_user(), make_user()
    channel = make_channel(writer, members=[colleague])
    with Socket(daphne_pair[0].ws_url, token=token_for(writer)) as other_browser, \
            Socket(daphne_pair[1].ws_url, token=token_for(colleague)) as theirs:
        services.draft_save(actor=writer, conversation_id=channel.pk, text="to the team:",
                            origin="tab-1")
        kept = other_browser.next("draft.updated")
        services.draft_clear(actor=writer, conversation_id=channel.pk)
        cleared = other_browser.next("draft.updated")
        post(writer, channel, "a marker after it")
        seen = theirs.collect("draft.updated", "message.created", seconds=2)

    assert {k: kept[k] for k in ("conversation", "thread_root", "text", "origin")} == {
        "conversation": channel.pk, "thread_root": None, "text": "to the team:", "origin": "tab-1"}
    assert kept["updated_at"].endswith("Z")
    assert (cleared["conversation"], cleared["text"]) == (channel.pk, "")
    assert [f["type"] for f in seen] == ["message.created"]
