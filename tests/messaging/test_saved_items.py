"""Saved for later (issue 28): the list, in progress and done, kept in step on every
browser of the person, and only ever their own."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput, NotFound
from messaging import selectors, services
from messaging.models import SavedMessage
from tests.factories import client_for, make_channel, make_user, post
from tests.realtime import Socket, token_for

pytestmark = pytest.mark.django_db


def listed(user, done=None) -> list[int]:
    return [message.pk for message, _ in selectors.saved_list(user=user, done=done)]


def test_done_moves_an_item_from_in_progress_to_done_and_saving_again_brings_it_back(member):
    channel = make_channel(member)
    first, second = post(member, channel, "first"), post(member, channel, "second")
    services.message_save(actor=member, message_id=first.pk)
    services.message_save(actor=member, message_id=second.pk)

    saved = services.message_save_done(actor=member, message_id=first.pk, done=True)

    assert saved.done_at is not None
    assert listed(member, done=False) == [second.pk]
    assert listed(member, done=True) == [first.pk]
    assert listed(member) == [second.pk, first.pk]
    services.message_save_done(actor=member, message_id=first.pk, done=False)
    assert listed(member, done=True) == []
    services.message_save_done(actor=member, message_id=first.pk, done=True)
    services.message_save(actor=member, message_id=first.pk)  # saved again: in progress
    assert listed(member, done=True) == []
    assert SavedMessage.objects.filter(user=member).count() == 2


def test_only_your_own_saved_items(member, other_member):
    channel = make_channel(member, members=[other_member])
    message = post(member, channel, "mine")
    services.message_save(actor=member, message_id=message.pk)

    for wrong in (message.pk, "x", 2**70, -1):
        with pytest.raises(NotFound):
            services.message_save_done(actor=other_member, message_id=wrong, done=True)
    with pytest.raises(NotFound):
        services.message_unsave(actor=other_member, message_id=message.pk)
    with pytest.raises(InvalidInput) as refused:
        services.message_save_done(actor=member, message_id=message.pk, done="yes")
    assert list(refused.value.fields) == ["done"]
    assert SavedMessage.objects.get(user=member).done_at is None
    assert listed(other_member) == []


def test_a_saved_message_out_of_sight_is_not_listed(member, other_member):
    private = make_channel(other_member, kind="private", members=[member])
    message = post(other_member, private, "for now")
    services.message_save(actor=member, message_id=message.pk)
    services.conversation_leave(actor=member, conversation_id=private.pk)
    assert listed(member) == []
    outsider = make_user()
    with pytest.raises(NotFound):
        services.message_save(actor=outsider, message_id=message.pk)


def test_over_rest(member):
    channel = make_channel(member)
    message = post(member, channel, "read this later")
    client = client_for(member)
    assert client.post(f"/api/v1/messages/{message.pk}/save/").status_code == 201

    done = client.patch(f"/api/v1/messages/{message.pk}/save/", {"done": True})
    assert done.status_code == 200
    assert (done.json()["id"], done.json()["text"]) == (message.pk, "read this later")
    assert done.json()["done_at"].endswith("Z") and done.json()["saved_at"].endswith("Z")
    assert client.get("/api/v1/me/saved/?state=open").json()["results"] == []
    assert [m["id"] for m in client.get("/api/v1/me/saved/?state=done").json()["results"]] == [message.pk]
    assert [m["id"] for m in client.get("/api/v1/me/saved/").json()["results"]] == [message.pk]
    bad = client.get("/api/v1/me/saved/?state=later")
    assert bad.status_code == 400 and "state" in bad.json()["error"]["fields"]
    refused = client.patch(f"/api/v1/messages/{message.pk}/save/", {"done": "perhaps"})
    assert refused.status_code == 400 and "done" in refused.json()["error"]["fields"]
    assert client_for(make_user()).patch(f"/api/v1/messages/{message.pk}/save/",
                                         {"done": True}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_persons_other_browsers_are_told_and_no_one_else(daphne_pair):
    saver, colleague = make_user(), make_user()
    channel = make_channel(saver, members=[colleague])
    message = post(colleague, channel, "the numbers")
    with Socket(daphne_pair[0].ws_url, token=token_for(saver)) as other_browser, \
            Socket(daphne_pair[1].ws_url, token=token_for(colleague)) as theirs:
        services.message_save(actor=saver, message_id=message.pk)
        services.message_save_done(actor=saver, message_id=message.pk, done=True)
        services.message_unsave(actor=saver, message_id=message.pk)
        frames = [other_browser.next("saved.updated") for _ in range(3)]
        post(saver, channel, "a marker after it")
        seen = theirs.collect("saved.updated", "message.created", seconds=2)

    assert [(f["message"], f["saved"], f["done"]) for f in frames] == [
        (message.pk, True, False), (message.pk, True, True), (message.pk, False, False)]
    assert [f["type"] for f in seen] == ["message.created"]
