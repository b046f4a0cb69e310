"""Call signalling over /ws/ against two real daphne processes on PostgreSQL and Redis: the
caller on one process, the people called on the other."""

from __future__ import annotations

import pytest

from calls.models import CallEndReason, CallParticipant, CallRecord, ParticipantState
from messaging.models import ConversationEvent, Message
from tests.conftest import CALL_RING_SECONDS
from tests.factories import make_channel, make_direct, make_user, wait_for
from tests.realtime import Socket, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("servers_settled")]

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
             "sdpMid": "0", "sdpMLineIndex": 0}


def connect(server, user) -> Socket:
    return Socket(server.ws_url, token=token_for(user))


def start(socket: Socket, conversation_id: int, media: str = "video", **extra) -> dict:
    socket.send(type="call.start", conversation=conversation_id, media=media, **extra)
    return socket.next("call.started")["call"]


def join(socket: Socket, user, call: dict, *, already: list[tuple[Socket, object]]) -> None:
    """`user` answers or joins `call` on `socket`: they are told everyone already in it is
    there with them, and each of those is told that `user` joined."""
    socket.send(type="call.accept", call=call["id"])
    joined = {p["user"] for p in socket.next("call.accepted")["call"]["participants"]
              if p["state"] == "joined"}
    assert joined == {user.pk, *(person.pk for _, person in already)}
    for other, _ in already:
        assert other.next("call.participant", where=lambda f: f["participant"]["user"]
                          == user.pk)["participant"]["state"] == "joined"


def record_message(conversation_id: int) -> Message:
    return Message.objects.get(conversation_id=conversation_id, client_msg_id__startswith="call:")


@pytest.fixture(autouse=True)
def _calls_settled(transactional_db):
    """The servers drop people from their calls when their sockets close, and post the
    calls' records: let them finish before the test database is emptied."""
    yield
    wait_for(lambda: not CallRecord.objects.exclude(state="ended").exists()
             and not CallRecord.objects.filter(message=None).exists(), seconds=20)


@pytest.fixture
def ana_ben():
    ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
    return ana, ben, make_direct(ana, ben)


def test_a_call_rings_connects_relays_signalling_and_leaves_a_record(call_daphne_pair, ana_ben):
    ana, ben, direct = ana_ben
    with connect(call_daphne_pair[0], ana) as a, connect(call_daphne_pair[1], ben) as b:
        call = start(a, direct.pk)
        ring = b.next("call.ring")["call"]
        assert ring == call
        assert ring["caller"] == {"id": ana.pk, "display_name": "Ana Lopez", "avatar_url": None}
        assert ring["media"] == "video" and ring["state"] == "ringing"
        assert {p["user"]: p["state"] for p in ring["participants"]} == {
            ana.pk: "joined", ben.pk: "ringing"}

        b.send(type="call.accept", call=call["id"])
        accepted = b.next("call.accepted")["call"]
        joined = a.next("call.participant")
        assert accepted["state"] == "active"
        assert joined == {"type": "call.participant", "call": call["id"], "participant": {
            "user": ben.pk, "state": "joined", "audio": True, "video": True, "screen": False}}

        # Offer, answer and candidates pass between the two sockets in the call, as sent.
        b.send(type="call.signal", call=call["id"], to=ana.pk, description=OFFER)
        assert a.next("call.signal") == {"type": "call.signal", "call": call["id"],
                                         "from": ben.pk, "description": OFFER}
        a.send(type="call.signal", call=call["id"], to=ben.pk, candidate=CANDIDATE)
        assert b.next("call.signal") == {"type": "call.signal", "call": call["id"],
                                         "from": ana.pk, "candidate": CANDIDATE}
        a.send(type="call.media", call=call["id"], audio=False)
        assert b.next("call.media") == {"type": "call.media", "call": call["id"],
                                        "user": ana.pk, "audio": False, "video": True,
                                        "screen": False}

        b.send(type="call.leave", call=call["id"])
        ended_a, ended_b = a.next("call.ended"), b.next("call.ended")
        created = a.next("message.created")
        assert b.next("message.created") == created

    assert ended_a == ended_b
    assert ended_a["reason"] == "completed" and ended_a["detail"] == "The call ended."
    stored = CallRecord.objects.get(pk=call["id"])
    assert stored.state == "ended" and stored.end_reason == CallEndReason.COMPLETED
    assert stored.connected_at is not None and stored.ended_at >= stored.connected_at
    assert stored.message_id == created["message"]["id"]
    assert created["message"]["author"] == ana.pk
    assert created["message"]["text"].startswith(
        "📹 Video call with Ana Lopez and Ben Okafor · lasted 0:0")
    assert sorted(stored.participants.values_list("state", flat=True)) == ["left", "left"]
    # Signalling is never stored: the only event of the call is its record.
    assert list(ConversationEvent.objects.filter(conversation=direct).order_by("seq").values_list(
        "type", flat=True)) == ["conversation.created", "message.created"]


def test_outsiders_cannot_ring_a_conversation_or_inject_signalling(call_daphne_pair, ana_ben):
    ana, ben, direct = ana_ben
    eve = make_user(name="Eve Outsider")
    public = make_channel(ana, "open-room", members=[ben])
    with connect(call_daphne_pair[0], ana) as a, connect(call_daphne_pair[1], ben) as b, \
            connect(call_daphne_pair[1], eve) as e:
        e.send(type="call.start", conversation=direct.pk, media="audio")
        assert e.next("error")["code"] == "not_found"
        e.send(type="call.start", conversation=public.pk, media="audio")
        assert e.next("error")["code"] == "not_a_member"
        assert b.collect("call.ring", seconds=0.5) == []
        assert CallRecord.objects.count() == 0

        call = start(a, direct.pk)
        b.next("call.ring")
        b.send(type="call.accept", call=call["id"])
        b.next("call.accepted")
        a.next("call.participant")
        for frame in ({"type": "call.signal", "call": call["id"], "to": ben.pk,
                       "description": OFFER},
                      {"type": "call.accept", "call": call["id"]},
                      {"type": "call.leave", "call": call["id"]},
                      {"type": "call.media", "call": call["id"], "audio": False}):
            e.send(**frame)
            error = e.next("error")
            assert error["code"] == "not_found" and error["detail"] == "No such call."
        assert b.collect("call.signal", "call.participant", "call.media", seconds=1.0) == []
        assert a.collect("call.participant", "call.ended", seconds=0.2) == []
        assert CallRecord.objects.get(pk=call["id"]).state == "active"


def test_someone_rung_cannot_signal_before_answering(call_daphne_pair):
    ana, ben, cat = (make_user(name=n) for n in ("Ana Lopez", "Ben Okafor", "Cat Ng"))
    channel = make_channel(ana, "trio", members=[ben, cat])
    with connect(call_daphne_pair[0], ana) as a, connect(call_daphne_pair[1], cat) as c:
        call = start(a, channel.pk, media="audio")
        c.next("call.ring")
        c.send(type="call.signal", call=call["id"], to=ana.pk, description=OFFER)
        assert c.next("error")["code"] == "not_in_call"
        assert a.collect("call.signal", seconds=1.0) == []


def test_bad_frames_get_an_error_and_change_nothing(call_daphne_pair, ana_ben):
    ana, ben, direct = ana_ben
    with connect(call_daphne_pair[0], ana) as a:
        a.send(type="call.start", conversation=direct.pk, media="hologram")
        error = a.next("error")
        assert error["code"] == "invalid" and error["fields"] == {"media": ["Either 'audio' or 'video'."]}
        a.send(type="call.start", media="audio")
        assert a.next("error")["fields"] == {"conversation": ["An id is required for call.start."]}
        assert CallRecord.objects.count() == 0
        call = start(a, direct.pk)
        a.send(type="call.signal", call=call["id"], to=ben.pk)
        assert a.next("error")["code"] == "invalid"
        a.send(type="call.signal", call=call["id"], to=ben.pk, description={"type": "bogus"})
        assert a.next("error")["fields"] == {"description": ["A session description {type, sdp}."]}
        a.send(type="call.media", call=call["id"], audio="off")
        assert a.next("error")["fields"] == {"audio": ["true or false."]}
        assert CallParticipant.objects.get(call_id=call["id"], user=ana).audio is True


def test_a_call_of_more_people_than_the_limit_is_refused(call_daphne_pair, settings):
    people = [make_user(name=f"Person {n}") for n in range(5)]
    channel = make_channel(people[0], "five", members=people[1:])
    with connect(call_daphne_pair[0], people[0]) as caller, \
            connect(call_daphne_pair[1], people[1]) as rung:
        caller.send(type="call.start", conversation=channel.pk, media="video")
        refused = caller.next("error")
        assert refused["code"] == "too_many_participants"
        assert refused["detail"] == ("A call connects at most 4 people and this one would ring 5. "
                                     "Invite fewer people.")
        assert rung.collect("call.ring", seconds=0.5) == []
        assert CallRecord.objects.count() == 0

        # Inviting three of them is within the limit: only they ring.
        call = start(caller, channel.pk, invite=[p.pk for p in people[1:4]])
        assert rung.next("call.ring")["call"]["id"] == call["id"]
        assert sorted(p["user"] for p in call["participants"]) == sorted(p.pk for p in people[:4])


def test_calling_someone_in_another_call_ends_as_busy(call_daphne_pair, ana_ben):
    ana, ben, direct = ana_ben
    cat = make_user(name="Cat Ng")
    with_cat = make_direct(cat, ana)
    with connect(call_daphne_pair[0], ana) as a, connect(call_daphne_pair[1], ben) as b, \
            connect(call_daphne_pair[1], cat) as c:
        call = start(a, direct.pk)
        b.next("call.ring")
        b.send(type="call.accept", call=call["id"])
        b.next("call.accepted")

        second = start(c, with_cat.pk, media="audio")
        ended = c.next("call.ended")
        assert ended["call"] == second["id"] and ended["reason"] == "busy"
        assert ended["detail"] == "Ana Lopez is busy in another call."
        assert a.collect("call.ring", seconds=0.5) == []
        assert c.next("message.created")["message"]["text"] == (
            "📞 Audio call from Cat Ng · Ana Lopez was busy")

        a.send(type="call.start", conversation=with_cat.pk, media="audio")
        assert a.next("error")["code"] == "busy"
    assert CallParticipant.objects.get(call_id=second["id"], user=ana).state == ParticipantState.BUSY


def test_a_declined_call_ends_for_the_caller_and_every_tab_of_the_declined(call_daphne_pair,
                                                                          ana_ben):
    ana, ben, direct = ana_ben
    with connect(call_daphne_pair[0], ana) as a, connect(call_daphne_pair[1], ben) as b1, \
            connect(call_daphne_pair[0], ben) as b2:
        call = start(a, direct.pk, media="audio")
        b1.next("call.ring")
        b2.next("call.ring")
        b1.send(type="call.decline", call=call["id"])
        for socket in (a, b1, b2):
            ended = socket.next("call.ended")
            assert ended["reason"] == "declined"
            assert ended["detail"] == "Ben Okafor declined the call."
        b2.send(type="call.accept", call=call["id"])
        assert b2.next("error")["code"] == "call_ended"
    assert record_message(direct.pk).text == "📞 Audio call from Ana Lopez · declined by Ben Okafor"


def test_the_caller_cancels_before_anyone_answers(call_daphne_pair, ana_ben):
    ana, ben, direct = ana_ben
    with connect(call_daphne_pair[0], ana) as a, connect(call_daphne_pair[1], ben) as b:
        call = start(a, direct.pk)
        b.next("call.ring")
        b.send(type="call.cancel", call=call["id"])
        assert b.next("error")["code"] == "forbidden"  # only the caller cancels
        a.send(type="call.cancel", call=call["id"])
        ended = b.next("call.ended")
        assert ended["reason"] == "cancelled" and ended["detail"] == "Ana Lopez cancelled the call."
        assert a.next("call.ended") == ended
        b.send(type="call.accept", call=call["id"])
        assert b.next("error")["code"] == "call_ended"
    assert record_message(direct.pk).text == "📹 Video call from Ana Lopez · cancelled"


def test_an_unanswered_call_is_missed_after_the_ring_timeout(call_daphne_pair, ana_ben):
    ana, ben, direct = ana_ben
    with connect(call_daphne_pair[0], ana) as a, connect(call_daphne_pair[1], ben) as b:
        call = start(a, direct.pk)
        b.next("call.ring")
        assert b.collect("call.ended", seconds=CALL_RING_SECONDS - 2) == []  # still ringing
        ended = b.next("call.ended", timeout=8)
        assert ended["reason"] == "missed" and ended["detail"] == "No answer."
        assert a.next("call.ended") == ended
        missed = b.next("message.created")["message"]
    assert missed["text"] == "📹 Missed video call from Ana Lopez · no answer"
    assert CallParticipant.objects.get(call_id=call["id"], user=ben).state == "missed"
    assert CallRecord.objects.get(pk=call["id"]).end_reason == "missed"


def test_a_dropped_peer_ends_the_call_with_a_clear_reason(call_daphne_pair, ana_ben):
    ana, ben, direct = ana_ben
    with connect(call_daphne_pair[0], ana) as a:
        b = connect(call_daphne_pair[1], ben)
        call = start(a, direct.pk)
        b.next("call.ring")
        b.send(type="call.accept", call=call["id"])
        a.next("call.participant")
        b.close()  # the browser went away without hanging up
        ended = a.next("call.ended")
    assert ended["reason"] == "dropped" and ended["detail"] == "Ben Okafor's connection was lost."
    assert CallParticipant.objects.get(call_id=call["id"], user=ben).dropped is True


def test_only_the_tab_that_answered_is_in_the_call(call_daphne_pair, ana_ben):
    ana, ben, direct = ana_ben
    with connect(call_daphne_pair[0], ana) as a, connect(call_daphne_pair[1], ben) as b1, \
            connect(call_daphne_pair[0], ben) as b2:
        call = start(a, direct.pk)
        b1.next("call.ring")
        b2.next("call.ring")
        b1.send(type="call.accept", call=call["id"])
        b1.next("call.accepted")
        assert b2.next("call.ring_stopped") == {"type": "call.ring_stopped", "call": call["id"],
                                                "reason": "answered_elsewhere"}
        a.next("call.participant")
        a.send(type="call.signal", call=call["id"], to=ben.pk, description=OFFER)
        assert b1.next("call.signal")["from"] == ana.pk
        assert b2.collect("call.signal", seconds=1.0) == []
        b2.send(type="call.signal", call=call["id"], to=ana.pk, description=OFFER)
        assert b2.next("error")["code"] == "not_in_call"
        b2.send(type="call.accept", call=call["id"])
        assert b2.next("error")["code"] == "already_joined"


def test_a_group_call_meshes_and_goes_on_until_one_person_is_left(call_daphne_pair):
    ana, ben, cat = (make_user(name=n) for n in ("Ana Lopez", "Ben Okafor", "Cat Ng"))
    channel = make_channel(ana, "trio", members=[ben, cat])
    with connect(call_daphne_pair[0], ana) as a, connect(call_daphne_pair[1], ben) as b, \
            connect(call_daphne_pair[0], cat) as c:
        call = start(a, channel.pk)
        b.next("call.ring")
        c.next("call.ring")
        b.send(type="call.accept", call=call["id"])
        b.next("call.accepted")
        # The newcomer sees who is in the call already, and offers to each of them.
        join(c, cat, call, already=[(a, ana), (b, ben)])
        for socket, user in ((a, ana), (b, ben)):
            c.send(type="call.signal", call=call["id"], to=user.pk, description=OFFER)
            assert socket.next("call.signal")["from"] == cat.pk

        b.send(type="call.leave", call=call["id"])
        for socket in (a, c):
            left = socket.next("call.participant", where=lambda f: f["participant"] == {
                "user": ben.pk, "state": "left", "audio": True, "video": True, "screen": False})
            assert "dropped" not in left
        assert a.collect("call.ended", seconds=0.5) == []  # two are still talking
        c.send(type="call.leave", call=call["id"])
        assert a.next("call.ended")["reason"] == "completed"
        record = a.next("message.created")["message"]["text"]
    assert record.startswith("📹 Video call with Ana Lopez, Ben Okafor and Cat Ng · lasted 0:0")


def test_a_member_not_rung_joins_a_call_going_on_and_outsiders_cannot(call_daphne_pair):
    ana, ben, cat = (make_user(name=n) for n in ("Ana Lopez", "Ben Okafor", "Cat Ng"))
    eve = make_user(name="Eve Outsider")
    channel = make_channel(ana, "standup", members=[ben, cat])
    with connect(call_daphne_pair[0], ana) as a, connect(call_daphne_pair[1], ben) as b, \
            connect(call_daphne_pair[0], cat) as c, connect(call_daphne_pair[1], eve) as e:
        e.send(type="subscribe", conversation=channel.pk)  # an onlooker of the public channel
        call = start(a, channel.pk, invite=[ben.pk])
        b.next("call.ring")
        assert c.collect("call.ring", seconds=0.5) == []  # Cat was not rung
        # Not rung, and nobody has answered yet: there is no call to join.
        c.send(type="call.accept", call=call["id"])
        assert c.next("error")["code"] == "not_found"
        b.send(type="call.accept", call=call["id"])
        b.next("call.accepted")
        a.next("call.participant")
        # Every member learns that a call is going on, and who is in it: the Join button.
        assert c.next("call.status") == {"type": "call.status", "conversation": channel.pk,
                                         "call": call["id"], "state": "active",
                                         "media": "video", "joined": [ana.pk, ben.pk]}

        e.send(type="call.accept", call=call["id"])  # not a member of the channel
        assert e.next("error")["code"] == "not_found"
        join(c, cat, call, already=[(a, ana), (b, ben)])
        c.send(type="call.signal", call=call["id"], to=ana.pk, description=OFFER)
        assert a.next("call.signal")["from"] == cat.pk
        assert e.collect("call.participant", seconds=0.3) == []

        c.send(type="call.leave", call=call["id"])
        assert c.next("call.status", where=lambda f: f["joined"] == [ana.pk, ben.pk])
        b.send(type="call.leave", call=call["id"])
        assert a.next("call.ended")["reason"] == "completed"
        assert c.next("call.status", where=lambda f: f["state"] == "ended")["joined"] == []
        record = a.next("message.created")["message"]["text"]
        assert e.collect("call.status", seconds=0.3) == []
    assert record.startswith("📹 Video call with Ana Lopez, Ben Okafor and Cat Ng · lasted 0:0")
    assert CallParticipant.objects.filter(call_id=call["id"]).count() == 3
