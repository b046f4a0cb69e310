"""Read receipts (issue 28): "Seen by" from the read positions the server keeps, in direct
conversations and in channels up to the size an admin sets; off for the organisation;
a person who stops sharing theirs sees none; and never a receipt to someone who could not
see the message."""

from __future__ import annotations

import pytest

from accounts import services as accounts
from accounts.models import Organisation, Role
from core.errors import InvalidInput, NotFound
from messaging import selectors, services
from tests.factories import client_for, make_channel, make_direct, make_user, post
from tests.realtime import Socket, token_for

pytestmark = pytest.mark.django_db


def seen(viewer, message) -> tuple[bool, str | None, list[int]]:
    receipts = selectors.message_receipts(user=viewer, message_id=message.pk)
    return receipts.enabled, receipts.reason, receipts.seen_by


def test_seen_by_follows_read_positions_in_direct_and_group_direct(member, other_member):
    third = make_user()
    direct = make_direct(member, other_member)
    hello = post(member, direct, "hello")
    assert seen(member, hello) == (True, None, [])
    services.read_mark(actor=other_member, conversation_id=direct.pk, message_id=hello.pk)
    assert seen(member, hello) == (True, None, [other_member.pk])
    assert seen(other_member, hello) == (True, None, [other_member.pk])  # members see it too

    group = make_direct(member, other_member, third)
    first, second = post(member, group, "one"), post(member, group, "two")
    services.read_mark(actor=third, conversation_id=group.pk, message_id=first.pk)
    services.read_mark(actor=other_member, conversation_id=group.pk, message_id=second.pk)
    assert seen(member, first)[2] == sorted([other_member.pk, third.pk])
    assert seen(member, second)[2] == [other_member.pk]
    # The author never counts as a reader of their own message.
    services.read_mark(actor=member, conversation_id=group.pk, message_id=second.pk)
    assert member.pk not in seen(other_member, first)[2]


def test_channels_up_to_the_admins_size_and_replies_by_thread_position(member, other_member):
    admin = make_user(Role.ADMIN)
    channel = make_channel(member, members=[other_member])
    root = post(member, channel, "root")
    reply = post(member, channel, "in thread", thread_root_id=root.pk)
    services.read_mark(actor=other_member, conversation_id=channel.pk, message_id=root.pk)
    assert seen(member, root)[2] == [other_member.pk]
    assert seen(member, reply)[2] == []  # the thread is another position
    services.thread_follow(actor=other_member, message_id=root.pk, following=True)
    services.thread_read(actor=other_member, message_id=root.pk)
    assert seen(member, reply)[2] == [other_member.pk]

    accounts.organisation_update(actor=admin, read_receipts_max_members=1)
    assert seen(member, root) == (False, "too_large", [])
    direct_message = post(member, make_direct(member, other_member), "still here")
    assert seen(member, direct_message)[0] is True  # direct conversations have no size limit


def test_off_for_the_organisation_and_for_someone_not_sharing(member, other_member):
    admin = make_user(Role.ADMIN)
    direct = make_direct(member, other_member)
    message = post(member, direct, "read me")
    services.read_mark(actor=other_member, conversation_id=direct.pk, message_id=message.pk)

    accounts.user_profile_update(user=other_member, share_read_receipts=False)
    assert seen(member, message) == (True, None, [])  # their receipt is not shared
    assert seen(other_member, message) == (False, "not_sharing", [])  # and they see none
    accounts.user_profile_update(user=other_member, share_read_receipts=True)
    assert seen(member, message)[2] == [other_member.pk]

    accounts.organisation_update(actor=admin, read_receipts_enabled=False)
    assert seen(member, message) == (False, "organisation_off", [])
    for bad in ({"read_receipts_enabled": "no"}, {"read_receipts_max_members": -1},
                {"read_receipts_max_members": True}, {"read_receipts_max_members": 10_001}):
        with pytest.raises(InvalidInput) as refused:
            accounts.organisation_update(actor=admin, **bad)
        assert list(refused.value.fields) == list(bad)
    assert Organisation.get().read_receipts_enabled is False
    with pytest.raises(InvalidInput):
        accounts.user_profile_update(user=member, share_read_receipts="off")


def test_no_receipts_for_someone_who_cannot_see_the_message(member, other_member):
    private = make_channel(member, kind="private", members=[other_member])
    message = post(member, private, "inner circle")
    for outsider in (make_user(), make_user(Role.ADMIN), make_user(Role.GUEST)):
        with pytest.raises(NotFound):
            selectors.message_receipts(user=outsider, message_id=message.pk)
        assert client_for(outsider).get(f"/api/v1/messages/{message.pk}/receipts/").status_code == 404


def test_over_rest(member, other_member):
    direct = make_direct(member, other_member)
    message = post(member, direct, "hi")
    client_for(other_member).post(f"/api/v1/conversations/{direct.pk}/read/", {"message": message.pk},
                                  format="json")
    answer = client_for(member).get(f"/api/v1/messages/{message.pk}/receipts/")
    assert answer.status_code == 200
    assert answer.json() == {"enabled": True, "reason": None, "seen_by": [other_member.pk]}
    me = client_for(other_member).patch("/api/v1/me/", {"share_read_receipts": False}, format="json")
    assert me.status_code == 200 and me.json()["share_read_receipts"] is False
    bad = client_for(other_member).patch("/api/v1/me/", {"share_read_receipts": "maybe"}, format="json")
    assert bad.status_code == 400 and "share_read_receipts" in bad.json()["error"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_the_author_hears_of_a_read_live_and_no_one_else(daphne_pair):
    ana, ben, cleo, dan = make_user(), make_user(), make_user(), make_user()
    group = make_direct(ana, ben, cleo)
    mine = post(ana, group, "ana's question")
    cleos = post(cleo, group, "cleo's aside")
    other = make_direct(ana, dan)
    with Socket(daphne_pair[0].ws_url, token=token_for(ana)) as anas, \
            Socket(daphne_pair[1].ws_url, token=token_for(dan)) as dans:
        services.read_mark(actor=ben, conversation_id=group.pk, message_id=mine.pk)
        frame = anas.next("receipt.updated")
        accounts.user_profile_update(user=ben, share_read_receipts=False)
        services.read_mark(actor=ben, conversation_id=group.pk, message_id=cleos.pk)
        services.read_mark(actor=dan, conversation_id=other.pk,
                           message_id=post(ana, other, "for dan").pk)
        later = anas.collect("receipt.updated", seconds=1.5)
        heard = dans.collect("receipt.updated", seconds=0.5)

    assert (frame["conversation"], frame["user"], frame["last_read_seq"]) == (group.pk, ben.pk, mine.seq)
    # Ben stopped sharing: nothing; Dan's read of Ana's message reaches Ana, not Dan.
    assert [(f["conversation"], f["user"]) for f in later] == [(other.pk, dan.pk)]
    assert heard == []


def test_an_admin_sets_them_in_the_console(admin):
    from django.test import Client

    console = Client()
    console.force_login(admin)
    form = {"name": "Acme", "message_edit_window_seconds": "600", "require_two_factor": "off",
            "e2ee_policy": "off", "read_receipts_max_members": "12"}
    assert console.post("/console/settings/", form).status_code == 302
    organisation = Organisation.get()
    assert (organisation.read_receipts_enabled, organisation.read_receipts_max_members) == (False, 12)
    bad = console.post("/console/settings/", {**form, "read_receipts_enabled": "on",
                                              "read_receipts_max_members": "-3"})
    assert bad.status_code == 200 and "greater than or equal to 0" in bad.content.decode()
    assert Organisation.get().read_receipts_enabled is False
    assert console.post("/console/settings/", {**form, "read_receipts_enabled": "on"}).status_code == 302
    assert Organisation.get().read_receipts_enabled is True
