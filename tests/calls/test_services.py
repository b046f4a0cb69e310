"""The call services in process: the state machine, the record, and the ICE servers."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import presence
from calls import selectors, services
from calls.models import CallParticipant, CallRecord
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from messaging.models import Message
from tests.factories import client_for, make_channel, make_direct, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def trio(db):
    """Three people, each with an open socket (named "a1", "b1", "c1")."""
    ana, ben, cat = (make_user(name=n) for n in ("Ana Lopez", "Ben Okafor", "Cat Ng"))
    sockets = [(ana.pk, "a1"), (ben.pk, "b1"), (cat.pk, "c1")]
    for user_id, connection in sockets:
        presence.connection_open(user_id, connection)
    yield ana, ben, cat, make_channel(ana, "trio", members=[ben, cat])
    for user_id, connection in sockets:
        presence.connection_close(user_id, connection)


def test_a_group_call_goes_on_while_someone_is_in_it_and_ends_with_the_last_two(
        trio, django_capture_on_commit_callbacks):
    ana, ben, cat, channel = trio
    with django_capture_on_commit_callbacks(execute=True):
        call = services.call_start(actor=ana, conversation_id=channel.pk, media="audio",
                                   connection="a1")
        services.call_accept(actor=ben, call_id=call.pk, connection="b1")
        services.call_decline(actor=cat, call_id=call.pk)
    call.refresh_from_db()
    assert call.state == "active"
    states = dict(CallParticipant.objects.filter(call=call).values_list("user_id", "state"))
    assert states == {ana.pk: "joined", ben.pk: "joined", cat.pk: "declined"}

    with django_capture_on_commit_callbacks(execute=True):
        services.call_leave(actor=ana, call_id=call.pk, connection="a1")
    call.refresh_from_db()
    assert call.state == "ended" and call.end_reason == "completed"
    record = Message.objects.get(pk=call.message_id)
    assert record.text.startswith("📞 Audio call with Ana Lopez and Ben Okafor · lasted 0:0")
    assert record.seq == channel.__class__.objects.get(pk=channel.pk).last_seq


def test_the_record_is_posted_once_and_names_are_plain_text(trio,
                                                           django_capture_on_commit_callbacks):
    ana = trio[0]
    sneaky = make_user(name="**Bold** <@1> _x_ [y](#z)")
    presence.connection_open(sneaky.pk, "s1")
    direct = make_direct(sneaky, ana)
    with django_capture_on_commit_callbacks(execute=True):
        call = services.call_start(actor=sneaky, conversation_id=direct.pk, media="video",
                                   connection="s1")
        services.call_cancel(actor=sneaky, call_id=call.pk)
    services.call_record_post(call_id=call.pk)  # a second attempt posts nothing more
    record = Message.objects.get(conversation=direct)
    assert "<strong>" not in record.html and "<em>" not in record.html
    assert "<a " not in record.html and "mention" not in record.html
    assert "**Bold** &lt;@1&gt; _x_ [y](#z)" in record.html


def test_a_call_still_ringing_cannot_be_answered_once_its_channel_is_archived(trio):
    from messaging import services as messaging

    ana, ben, _, channel = trio
    call = services.call_start(actor=ana, conversation_id=channel.pk, media="audio",
                               connection="a1", invite=[ben.pk])
    messaging.conversation_update(actor=ana, conversation_id=channel.pk, archived=True)
    with pytest.raises(Forbidden) as archived:
        services.call_accept(actor=ben, call_id=call.pk, connection="b1")
    assert archived.value.code == "archived"
    assert CallParticipant.objects.get(call=call, user=ben).state == "ringing"


def test_no_record_is_written_in_text_where_the_server_may_store_none(
        trio, caplog, django_capture_on_commit_callbacks):
    """End-to-end encrypted conversations, and plain direct ones under the "required"
    policy: the call ends as anywhere else and is listed, but no message is posted (nor a
    warning logged for a refused one)."""
    from messaging import services as messaging
    from tests.e2ee.helpers import set_policy

    ana, ben, _, _ = trio
    set_policy("allowed")
    encrypted, _ = messaging.conversation_direct_open(actor=ana, member_ids=[ben.pk], encrypted=True)
    plain = make_direct(ana, ben)
    for conversation, policy in ((encrypted, "allowed"), (plain, "required")):
        set_policy(policy)
        with django_capture_on_commit_callbacks(execute=True):
            call = services.call_start(actor=ana, conversation_id=conversation.pk, media="audio",
                                       connection="a1")
            services.call_accept(actor=ben, call_id=call.pk, connection="b1")
            services.call_leave(actor=ben, call_id=call.pk, connection="b1")
        call.refresh_from_db()
        assert (call.state, call.end_reason, call.message_id) == ("ended", "completed", None)
        assert not Message.objects.filter(conversation=conversation).exists()
        assert list(selectors.call_list(user=ana, conversation_id=conversation.pk)) == [call]
    assert "could not post the record" not in caplog.text
    set_policy("off")
    with django_capture_on_commit_callbacks(execute=True):  # the same plain one, policy lifted
        call = services.call_start(actor=ana, conversation_id=plain.pk, media="audio",
                                   connection="a1")
        services.call_cancel(actor=ana, call_id=call.pk)
    assert Message.objects.get(conversation=plain).text == "📞 Audio call from Ana Lopez · cancelled"


def test_ring_expiry_waits_for_the_deadline_then_marks_the_call_missed(
        trio, settings, django_capture_on_commit_callbacks):
    ana, ben, _, _ = trio
    direct = make_direct(ana, ben)
    with django_capture_on_commit_callbacks(execute=True):
        call = services.call_start(actor=ana, conversation_id=direct.pk, media="audio",
                                   connection="a1")
        services.call_ring_expire(call_id=call.pk)  # too early: nothing happens
        call.refresh_from_db()
        assert call.state == "ringing"
        CallRecord.objects.filter(pk=call.pk).update(
            ring_deadline=timezone.now() - timedelta(seconds=1))
        services.call_ring_expire(call_id=call.pk)
    call.refresh_from_db()
    assert call.end_reason == "missed"
    assert Message.objects.get(pk=call.message_id).text == (
        "📞 Missed audio call from Ana Lopez · no answer")


def test_an_overdue_ring_is_applied_when_someone_answers_late(trio):
    ana, ben, _, _ = trio
    direct = make_direct(ana, ben)
    call = services.call_start(actor=ana, conversation_id=direct.pk, media="audio",
                               connection="a1")
    CallRecord.objects.filter(pk=call.pk).update(ring_deadline=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict) as late:
        services.call_accept(actor=ben, call_id=call.pk, connection="b1")
    assert late.value.code == "call_ended"
    assert CallRecord.objects.get(pk=call.pk).end_reason == "missed"


def test_who_may_do_what(trio):
    ana, ben, cat, channel = trio
    eve = make_user(name="Eve Outsider")
    call = services.call_start(actor=ana, conversation_id=channel.pk, media="video",
                               connection="a1")
    with pytest.raises(NotFound):
        services.call_accept(actor=eve, call_id=call.pk, connection="e1")
    with pytest.raises(Forbidden):
        services.call_cancel(actor=ben, call_id=call.pk)
    with pytest.raises(Conflict) as again:
        services.call_start(actor=cat, conversation_id=channel.pk, media="video", connection="c1")
    assert again.value.code == "call_in_progress"
    assert list(CallRecord.objects.values_list("pk", "state")) == [(call.pk, "ringing")]
    assert not CallParticipant.objects.filter(user=eve).exists()
    with pytest.raises(InvalidInput):
        services.call_start(actor=ana, conversation_id=channel.pk, media="video",
                            connection="a1", invite=[eve.pk])
    services.call_accept(actor=ben, call_id=call.pk, connection="b1")
    with pytest.raises(Forbidden) as not_joined:
        services.call_signal(actor=cat, call_id=call.pk, connection="c1", to=ana.pk,
                             description={"type": "offer", "sdp": ""})
    assert not_joined.value.code == "not_in_call"
    relay = services.call_signal(actor=ben, call_id=call.pk, connection="b1", to=ana.pk,
                                 candidate={"candidate": "candidate:1", "sdpMid": "0",
                                            "sdpMLineIndex": 0, "extra": "dropped"})
    assert relay.user_id == ana.pk
    assert relay.message["connection"] == "a1"
    assert '"extra"' not in relay.message["text"]


def test_turn_credentials_follow_coturns_shared_secret_scheme(member, settings):
    settings.CALL_TURN_SECRET = "s3cret"
    settings.CALL_TURN_TTL_SECONDS = 600
    username, credential = selectors.turn_credentials(user=member, now=1_700_000_000)
    assert username == f"1700000600:{member.pk}"
    expected = base64.b64encode(hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest())
    assert credential == expected.decode()


def test_the_ice_servers_endpoint_hands_out_stun_and_fresh_turn_credentials(member, settings):
    settings.CALL_STUN_URLS = ["stun:turn.example.com:3478"]
    settings.CALL_TURN_URLS = ["turn:turn.example.com:3478?transport=udp"]
    settings.CALL_TURN_SECRET = "s3cret"
    response = client_for(member).get("/api/v1/calls/ice-servers/")
    assert response.status_code == 200
    body = response.json()
    stun, turn = body["ice_servers"]
    assert stun == {"urls": ["stun:turn.example.com:3478"]}
    assert turn["urls"] == ["turn:turn.example.com:3478?transport=udp"]
    assert turn["username"].endswith(f":{member.pk}")
    assert body["max_participants"] == 4
    assert response["Cache-Control"] == "private, no-store"


def test_without_turn_settings_no_turn_server_is_offered(member, settings):
    settings.CALL_STUN_URLS = []
    settings.CALL_TURN_URLS = ["turn:turn.example.com"]
    settings.CALL_TURN_SECRET = ""
    assert client_for(member).get("/api/v1/calls/ice-servers/").json()["ice_servers"] == []


def test_the_call_list_shows_a_conversations_calls_to_its_members_only(trio):
    ana, ben, _, _ = trio
    eve = make_user(name="Eve Outsider")
    private = make_channel(ana, "secret", kind="private", members=[ben])
    call = services.call_start(actor=ana, conversation_id=private.pk, media="audio",
                               connection="a1")
    services.call_decline(actor=ben, call_id=call.pk)
    body = client_for(ben).get(f"/api/v1/conversations/{private.pk}/calls/").json()
    assert [c["id"] for c in body["results"]] == [call.pk]
    assert body["results"][0]["end_reason"] == "declined"
    assert {p["user"]: p["state"] for p in body["results"][0]["participants"]} == {
        ana.pk: "left", ben.pk: "declined"}
    assert client_for(eve).get(f"/api/v1/conversations/{private.pk}/calls/").status_code == 404


def test_a_full_call_refuses_one_more(trio, settings):
    ana, ben, cat, channel = trio
    call = services.call_start(actor=ana, conversation_id=channel.pk, media="audio",
                               connection="a1")
    services.call_accept(actor=ben, call_id=call.pk, connection="b1")
    settings.CALL_MAX_PARTICIPANTS = 2
    with pytest.raises(Forbidden) as full:
        services.call_accept(actor=cat, call_id=call.pk, connection="c1")
    assert full.value.code == "call_full"
    assert full.value.detail == "This call is full: it connects at most 2 people."
    assert CallParticipant.objects.get(call=call, user=cat).state == "ringing"


def test_a_call_whose_sockets_all_went_away_is_ended_when_someone_calls_again(
        trio, django_capture_on_commit_callbacks):
    ana, ben, _, _ = trio
    direct = make_direct(ana, ben)
    stale = services.call_start(actor=ana, conversation_id=direct.pk, media="audio",
                                connection="a1")
    services.call_accept(actor=ben, call_id=stale.pk, connection="b1")
    # Their server process died: nobody hung up, and presence forgot both sockets.
    presence.connection_close(ana.pk, "a1")
    presence.connection_close(ben.pk, "b1")
    presence.connection_open(ana.pk, "a2")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            fresh = services.call_start(actor=ana, conversation_id=direct.pk, media="audio",
                                        connection="a2")
    finally:
        presence.connection_close(ana.pk, "a2")
    stale.refresh_from_db()
    assert stale.end_reason == "dropped"
    assert Message.objects.get(pk=stale.message_id).text.startswith(
        "📞 Audio call with Ana Lopez and Ben Okafor")
    states = dict(CallParticipant.objects.filter(call=fresh).values_list("user_id", "state"))
    assert states == {ana.pk: "joined", ben.pk: "ringing"}  # not busy in the lost call


def test_joining_a_call_going_on_without_being_rung(trio, admin, settings):
    from accounts.services import people
    from messaging import services as messaging

    ana, ben, cat, channel = trio
    bot = people.bot_create(actor=admin, display_name="Helper", username="helper")
    guest = make_user("guest", name="Gus Guest")
    for user in (bot, guest):
        messaging.membership_add(actor=ana, conversation_id=channel.pk, user_id=user.pk)
    presence.connection_open(guest.pk, "g1")
    try:
        with pytest.raises(Forbidden) as bot_calls:  # bots neither place calls nor join them
            services.call_start(actor=bot, conversation_id=channel.pk, media="audio",
                                connection="x1", invite=[ben.pk])
        assert bot_calls.value.detail == "Bots cannot take part in calls."
        call = services.call_start(actor=ana, conversation_id=channel.pk, media="audio",
                                   connection="a1", invite=[ben.pk])
        with pytest.raises(NotFound):  # ringing, not yet going on: only those rung may answer
            services.call_accept(actor=cat, call_id=call.pk, connection="c1")
        services.call_accept(actor=ben, call_id=call.pk, connection="b1")
        with pytest.raises(Forbidden) as bot_joins:
            services.call_accept(actor=bot, call_id=call.pk, connection="x1")
        assert bot_joins.value.detail == "Bots cannot take part in calls."
        services.call_accept(actor=guest, call_id=call.pk, connection="g1")  # a member like any
        settings.CALL_MAX_PARTICIPANTS = 3
        with pytest.raises(Forbidden) as full:
            services.call_accept(actor=cat, call_id=call.pk, connection="c1")
        assert full.value.code == "call_full"
        assert not CallParticipant.objects.filter(call=call, user__in=[cat, bot]).exists()
        settings.CALL_MAX_PARTICIPANTS = 4
        services.call_accept(actor=cat, call_id=call.pk, connection="c1")
        assert dict(CallParticipant.objects.filter(call=call).values_list("user_id", "state")) == {
            ana.pk: "joined", ben.pk: "joined", guest.pk: "joined", cat.pk: "joined"}
    finally:
        presence.connection_close(guest.pk, "g1")
