"""The WebSocket stream against two real daphne processes on PostgreSQL and Redis,
driven by a real WebSocket client."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus

from accounts import services as accounts
from messaging import services
from messaging.models import Message
from tests.factories import make_channel, make_direct, make_user, post
from tests.realtime import Socket, sample, session_cookie_for, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("servers_settled")]


def cmid() -> str:
    return str(uuid.uuid4())


# --- Who may connect -------------------------------------------------------------------


def test_anonymous_bad_token_and_cross_site_sockets_are_refused_before_opening(daphne_pair):
    server = daphne_pair[0]
    member = make_user()
    for kwargs in ({}, {"token": "tc_wrong"}, {"cookie": session_cookie_for(member),
                                               "origin": "https://evil.example"},
                   {"cookie": session_cookie_for(member)}):
        with pytest.raises(InvalidStatus) as refused:
            Socket(server.ws_url, **kwargs)
        assert refused.value.response.status_code == 403


def test_a_browser_session_from_our_origin_and_a_token_both_connect(daphne_pair):
    server = daphne_pair[0]
    member = make_user()
    with Socket(server.ws_url, cookie=session_cookie_for(member), origin=server.url) as browser:
        assert browser.ready["user"] == member.pk
    with Socket(server.ws_url, token=token_for(member)) as program:
        assert program.ready["user"] == member.pk


# --- Delivery across processes -----------------------------------------------------------


def test_two_clients_on_two_processes_exchange_messages(daphne_pair):
    alice, bob = make_user(name="Alice"), make_user(name="Bob")
    channel = make_channel(alice, members=[bob])
    with Socket(daphne_pair[0].ws_url, token=token_for(alice)) as a, \
            Socket(daphne_pair[1].ws_url, token=token_for(bob)) as b:
        assert a.ready["conversations"] == {str(channel.pk): 1}
        a.send(type="message.send", conversation=channel.pk, text="hi **Bob**",
               client_msg_id="a-1")
        ack = a.next("message.ack")
        seen_by_bob = b.next("message.created")
        b.send(type="message.send", conversation=channel.pk, text="hi Alice",
               client_msg_id="b-1")
        seen_by_alice = a.next("message.created", where=lambda f: f["message"]["author"] == bob.pk)

    stored = Message.objects.get(client_msg_id="a-1")
    assert ack["message"]["id"] == stored.pk and ack["message"]["seq"] == stored.seq == 2
    assert seen_by_bob == {"type": "message.created", "conversation": channel.pk, "seq": 2,
                           "message": ack["message"]}
    assert seen_by_bob["message"]["html"] == "<p>hi <strong>Bob</strong></p>"
    assert seen_by_alice["seq"] == 3


def test_a_reconnecting_client_gets_every_missed_event_once_from_the_other_process(daphne_pair):
    alice, bob = make_user(), make_user()
    channel = make_channel(alice, members=[bob])
    bob_token = token_for(bob)
    first = Socket(daphne_pair[0].ws_url, token=bob_token)
    for n in range(5):
        post(alice, channel, f"before {n}")
    received = [first.next("message.created") for _ in range(5)]
    first.close()
    missed = [post(alice, channel, f"while away {n}") for n in range(8)]
    services.reaction_add(actor=alice, message_id=missed[0].pk, emoji_value="👍")
    services.message_edit(actor=alice, message_id=missed[1].pk, text="edited while away")
    services.message_delete(actor=alice, message_id=missed[2].pk)

    with Socket(daphne_pair[1].ws_url, token=bob_token) as second:
        second.send(type="resume", since={str(channel.pk): received[-1]["seq"]})
        replayed = second.collect("message.created", "message.edited", "message.deleted",
                                  "reaction.added", seconds=1.5)
        resumed = second.next("resumed")
        post(alice, channel, "live again")
        live = second.next("message.created")

    seqs = [f["seq"] for f in replayed]
    assert seqs == list(range(received[-1]["seq"] + 1, received[-1]["seq"] + 12))
    assert [f["type"] for f in replayed][-3:] == ["reaction.added", "message.edited",
                                                   "message.deleted"]
    created = [f["message"] for f in replayed if f["type"] == "message.created"]
    assert [m["id"] for m in created] == [m.pk for m in missed]
    assert created[2]["deleted"] is True and created[2]["text"] == ""  # never resent
    assert resumed["conversations"] == {str(channel.pk): seqs[-1]}
    assert live["seq"] == seqs[-1] + 1


def test_too_large_a_gap_asks_for_a_resync(daphne_pair):
    alice = make_user()
    channel = make_channel(alice)
    from messaging import selectors

    limit = selectors.RESUME_MAX_EVENTS
    for n in range(limit + 2):
        post(alice, channel, f"m{n}")
    with Socket(daphne_pair[0].ws_url, token=token_for(alice)) as socket:
        socket.send(type="resume", since={str(channel.pk): 1})
        resync = socket.next("resync")
    assert resync["conversation"] == channel.pk
    assert resync["seq"] == limit + 3
    assert "reload" in resync["detail"]


def test_a_lost_ack_retried_gives_one_message(daphne_pair):
    alice = make_user()
    channel = make_channel(alice)
    token = token_for(alice)
    client_msg_id = cmid()
    lost = Socket(daphne_pair[0].ws_url, token=token)
    lost.send(type="message.send", conversation=channel.pk, text="once",
              client_msg_id=client_msg_id)
    lost.close()  # the ack is never read
    time.sleep(0.5)

    with Socket(daphne_pair[1].ws_url, token=token) as retry:
        retry.send(type="message.send", conversation=channel.pk, text="once",
                   client_msg_id=client_msg_id)
        ack = retry.next("message.ack")

    assert Message.objects.filter(conversation=channel).count() == 1
    assert ack["message"]["id"] == Message.objects.get(conversation=channel).pk
    assert ack["client_msg_id"] == client_msg_id


def test_a_send_waiting_on_the_database_holds_back_neither_deliveries_nor_order(daphne_pair):
    """While a socket's send waits (here on a lock another transaction holds on the
    conversation), events of other conversations still reach that socket; and its next
    send, to a conversation nothing holds, is stored and answered after it, in the order
    sent."""
    import threading

    from django.db import connections, transaction

    alice, bob = make_user(), make_user()
    busy = make_channel(alice, members=[bob])
    other = make_channel(bob, members=[alice])
    locked, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold_lock() -> None:
        with transaction.atomic():
            list(type(busy).objects.select_for_update().filter(pk=busy.pk))
            locked.set()
            release.wait(20)
        connections.close_all()
        done.set()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(10)
    try:
        with Socket(daphne_pair[0].ws_url, token=token_for(alice)) as a:
            a.send(type="message.send", conversation=busy.pk, text="first", client_msg_id="s-1")
            # Into a conversation nobody holds: stored at once, were it not for the order.
            a.send(type="message.send", conversation=other.pk, text="second", client_msg_id="s-2")
            post(bob, other, "meanwhile")
            meanwhile = a.next("message.created", where=lambda f: f["conversation"] == other.pk)
            assert not [f for f in a.backlog if f["type"] == "message.ack"]  # still waiting
            release.set()
            acks = [a.next("message.ack"), a.next("message.ack")]
    finally:
        release.set()
        holder.join(10)

    assert meanwhile["message"]["text"] == "meanwhile"
    assert [ack["client_msg_id"] for ack in acks] == ["s-1", "s-2"]
    stored = dict(Message.objects.filter(client_msg_id__in=["s-1", "s-2"])
                  .values_list("client_msg_id", "id"))
    assert stored["s-1"] < stored["s-2"]  # stored in the order sent


def test_events_of_every_kind_reach_members(daphne_pair):
    alice, bob, carol = make_user(), make_user(), make_user()
    channel = make_channel(alice, members=[bob])
    with Socket(daphne_pair[1].ws_url, token=token_for(bob)) as b, \
            Socket(daphne_pair[0].ws_url, token=token_for(carol)) as c:
        message = post(alice, channel, "root")
        services.reaction_add(actor=alice, message_id=message.pk, emoji_value="🎉")
        services.reaction_remove(actor=alice, message_id=message.pk, emoji_value="🎉")
        post(alice, channel, "reply", thread_root_id=message.pk)
        services.conversation_update(actor=alice, conversation_id=channel.pk, topic="new topic")
        services.membership_add(actor=alice, conversation_id=channel.pk, user_id=carol.pk)
        services.read_mark(actor=bob, conversation_id=channel.pk, message_id=message.pk)
        frames = b.collect("message.created", "reaction.added", "reaction.removed",
                           "conversation.updated", "member.joined", "read.updated", seconds=2)
        carol_frames = c.collect("member.joined", "conversation.updated", seconds=1)
        post(alice, channel, "carol sees this")
        carol_message = c.next("message.created")

    by_type = {f["type"]: f for f in frames}
    assert [f["seq"] for f in frames if f["type"] != "read.updated"] == [2, 3, 4, 5, 6, 7]
    assert by_type["reaction.added"] == {"type": "reaction.added", "conversation": channel.pk,
                                         "seq": 3, "message_id": message.pk, "emoji": "🎉",
                                         "user": alice.pk}
    reply = [f for f in frames if f["type"] == "message.created"][1]
    assert reply["thread"] == {"root": message.pk, "reply_count": 1,
                               "last_reply_at": reply["thread"]["last_reply_at"],
                               "participants": [alice.pk]}
    assert by_type["conversation.updated"]["changes"] == {"topic": "new topic"}
    assert by_type["member.joined"]["user"] == carol.pk
    assert by_type["read.updated"]["last_read_message"] == message.pk
    assert by_type["read.updated"]["unread_count"] == 0
    assert [f["type"] for f in carol_frames] == ["member.joined"]
    assert carol_message["message"]["text"] == "carol sees this"


def test_a_removed_member_stops_receiving_at_once_on_every_socket(daphne_pair):
    alice, bob = make_user(), make_user()
    channel = make_channel(alice, kind="private", members=[bob])
    token = token_for(bob)
    with Socket(daphne_pair[0].ws_url, token=token) as one, \
            Socket(daphne_pair[1].ws_url, token=token) as two:
        services.membership_remove(actor=alice, conversation_id=channel.pk, user_id=bob.pk)
        left = [one.next("member.left"), two.next("member.left")]
        post(alice, channel, "secret after removal")
        services.conversation_update(actor=alice, conversation_id=channel.pk, topic="hush")
        leaked = one.collect("message.created", "conversation.updated", seconds=1) + two.collect(
            "message.created", "conversation.updated", seconds=0.5)
        one.send(type="resume", since={str(channel.pk): 0})
        refused = one.next("error")

    assert [f["user"] for f in left] == [bob.pk, bob.pk]
    assert leaked == []
    assert refused["code"] == "not_found"


def test_a_deactivated_persons_sockets_are_closed(daphne_pair):
    admin = make_user("admin")
    bob = make_user()
    socket = Socket(daphne_pair[1].ws_url, token=token_for(bob))
    accounts.user_deactivate(actor=admin, user=bob)
    notice = socket.next("error")
    with pytest.raises(ConnectionClosed):
        socket.next("anything", timeout=3)
    assert notice["code"] == "deactivated"
    assert socket.ws.close_code == 4003


def test_a_public_channel_can_be_followed_without_joining(daphne_pair):
    alice, bob = make_user(), make_user()
    channel = make_channel(alice)
    private = make_channel(alice, kind="private")
    with Socket(daphne_pair[0].ws_url, token=token_for(bob)) as b:
        b.send(type="subscribe", conversation=channel.pk)
        subscribed = b.next("subscribed")
        post(alice, channel, "for everyone")
        created = b.next("message.created")
        b.send(type="subscribe", conversation=private.pk)
        refused = b.next("error")
        b.send(type="typing", conversation=channel.pk)
        not_member = b.next("error")
    assert subscribed["seq"] == 1
    assert created["message"]["text"] == "for everyone"
    assert refused["code"] == "not_found"
    assert not_member["code"] == "not_found"


# --- Typing and presence ------------------------------------------------------------------


def test_typing_is_throttled_expires_and_is_never_echoed(daphne_pair):
    alice, bob = make_user(), make_user()
    channel = make_channel(alice, members=[bob])
    alice_token = token_for(alice)
    with Socket(daphne_pair[0].ws_url, token=alice_token) as typist, \
            Socket(daphne_pair[0].ws_url, token=alice_token) as typist_other_tab, \
            Socket(daphne_pair[1].ws_url, token=token_for(bob)) as watcher:
        typist.send(type="typing", conversation=channel.pk)
        typist.send(type="typing", conversation=channel.pk)
        first = watcher.collect("typing", seconds=1)
        time.sleep(1.2)
        typist.send(type="typing", conversation=channel.pk)
        second = watcher.collect("typing", seconds=1)
        echoed = typist.collect("typing", seconds=0.3) + typist_other_tab.collect("typing",
                                                                                  seconds=0.3)
    assert first == [{"type": "typing", "conversation": channel.pk, "user": alice.pk,
                      "expires_in_ms": 6000}]
    assert len(second) == 1
    assert echoed == []
    assert not Message.objects.exists()


def _presence(socket: Socket, user_id: int, status: str, timeout: float = 6) -> dict:
    return socket.next("presence", timeout=timeout,
                       where=lambda f: f["user"] == user_id and f["status"] == status)


def test_presence_aggregates_connections_and_survives_a_reload(daphne_pair):
    alice, bob = make_user(), make_user()
    make_direct(alice, bob)
    with Socket(daphne_pair[0].ws_url, token=token_for(bob)) as watcher:
        alice_token = token_for(alice)
        laptop = Socket(daphne_pair[0].ws_url, token=alice_token)
        _presence(watcher, alice.pk, "online")
        phone = Socket(daphne_pair[1].ws_url, token=alice_token)
        laptop.send(type="presence.set", status="idle")
        still_online = [f for f in watcher.collect("presence", seconds=0.8)
                        if f["user"] == alice.pk]
        phone.send(type="presence.set", status="idle")
        away = _presence(watcher, alice.pk, "away")
        phone.send(type="presence.set", status="active")
        _presence(watcher, alice.pk, "online")
        # A reload: the laptop tab closes and comes back within the grace period.
        laptop.close()
        phone.close()
        reloaded = Socket(daphne_pair[1].ws_url, token=alice_token)
        flapped = watcher.collect("presence", seconds=2.5)
        reloaded.close()
        offline = _presence(watcher, alice.pk, "offline")

    assert still_online == []
    assert away["status"] == "away"
    assert [f["status"] for f in flapped if f["user"] == alice.pk] == []
    assert offline == {"type": "presence", "user": alice.pk, "status": "offline",
                       "status_text": "", "status_emoji": "", "dnd_until": None}


def test_presence_over_rest_dnd_and_many_at_once(daphne_pair):
    from tests.factories import client_for

    alice, bob = make_user(), make_user()
    client = client_for(alice)
    with Socket(daphne_pair[0].ws_url, token=token_for(bob)) as watcher:
        watcher.send(type="presence.subscribe", users=[alice.pk])
        initial = watcher.next("presence", where=lambda f: f["user"] == alice.pk)
        until = (timezone.now() + timedelta(hours=1)).isoformat()
        response = client.put("/api/v1/me/presence/", {"status": "dnd", "dnd_until": until,
                                                        "status_text": "Focus"}, format="json")
        dnd = _presence(watcher, alice.pk, "dnd")
        many = client_for(bob).get(f"/api/v1/presence/?users={alice.pk},{bob.pk}").json()
        bad = client.put("/api/v1/me/presence/", {"status": "dnd"}, format="json")

    assert initial["status"] == "offline"
    assert response.status_code == 200 and response.json()["status"] == "dnd"
    assert dnd["status_text"] == "Focus" and dnd["dnd_until"]
    statuses = {p["user"]: p["status"] for p in many["results"]}
    assert statuses == {alice.pk: "dnd", bob.pk: "online"}
    assert bad.status_code == 400 and "dnd_until" in bad.json()["error"]["fields"]


# --- Bad frames and floods -----------------------------------------------------------------


@pytest.mark.parametrize("raw, code", [
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_frame"),
    ('{"no": "type"}', "invalid_frame"),
    ('{"type": "teleport"}', "unknown_type"),
    ('{"type": "message.send", "text": "x", "client_msg_id": "1"}', "invalid"),
    ('{"type": "message.send", "conversation": "7", "text": "x", "client_msg_id": "1"}', "invalid"),
    ('{"type": "resume", "since": {"abc": 1}}', "invalid"),
    ('{"type": "resume", "since": {"1": -4}}', "invalid"),
    ('{"type": "typing"}', "invalid"),
    ('{"type": "presence.set", "status": "sleeping"}', "invalid"),
    ('{"type": "presence.subscribe", "users": ["x"]}', "invalid"),
    ('{"type": "message.send", "conversation": 999999, "text": "x", "client_msg_id": "2"}',
     "not_found"),
    (json.dumps({"type": "ping", "pad": "x" * 70_000}), "too_large"),
])
def test_every_bad_frame_gets_an_error_and_the_connection_stays_up(daphne_pair, raw, code):
    member = make_user()
    with Socket(daphne_pair[0].ws_url, token=token_for(member)) as socket:
        socket.send_raw(raw)
        error = socket.next("error")
        socket.send(type="ping")
        pong = socket.next("pong")
    assert error["code"] == code
    assert error["detail"]
    assert pong == {"type": "pong"}


def test_a_failed_send_names_the_problem_and_its_client_msg_id(daphne_pair):
    alice = make_user()
    channel = make_channel(alice)
    with Socket(daphne_pair[0].ws_url, token=token_for(alice)) as socket:
        socket.send(type="message.send", conversation=channel.pk, text="   ", client_msg_id="e-1")
        error = socket.next("error")
        # An id past PostgreSQL's bigint: refused, naming the field, and the socket stays up.
        socket.send(type="message.send", conversation=2**70, text="hi", client_msg_id="e-2")
        refused = socket.next("error")
        socket.send(type="message.send", conversation=channel.pk, text="still here",
                    client_msg_id="e-3")
        ack = socket.next("message.ack")
    assert error == {"type": "error", "code": "invalid", "detail": "text: A message cannot be empty.",
                     "fields": {"text": ["A message cannot be empty."]}, "field": "text",
                     "client_msg_id": "e-1"}
    assert (refused["code"], refused["field"], refused["client_msg_id"]) == (
        "invalid", "conversation", "e-2")
    assert ack["message"]["text"] == "still here"


def test_a_malformed_send_also_names_its_client_msg_id(daphne_pair):
    alice = make_user()
    with Socket(daphne_pair[0].ws_url, token=token_for(alice)) as socket:
        socket.send(type="message.send", conversation="seven", text="hi", client_msg_id="e-2")
        error = socket.next("error")
    assert (error["code"], error["client_msg_id"]) == ("invalid", "e-2")


def test_a_flooding_client_is_throttled_then_closed(daphne_pair):
    member = make_user()
    socket = Socket(daphne_pair[0].ws_url, token=token_for(member))
    for _ in range(200):
        try:
            socket.send(type="ping")
        except ConnectionClosed:
            break
    errors = []
    with pytest.raises(ConnectionClosed):
        while True:
            errors.append(socket.next("error", timeout=5))
    assert errors[0]["code"] == "rate_limited"
    assert errors[-1]["code"] == "flooding"
    assert socket.ws.close_code == 4029


def test_browser_and_program_sockets_alike_have_events_written_at_once(daphne_pair):
    """The process's hub writes an event straight to every idle socket that follows the
    conversation, a browser's (through the session middleware) as well as a program's;
    /metrics of that process counts them."""
    import urllib.request

    server = daphne_pair[0]
    reader, writer = make_user(), make_user()
    channel = make_channel(writer, members=[reader])

    def passed() -> dict[str, float]:
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        return {path: sample(text, "teamchat_hub_events_total", path=path)
                for path in ("at_once", "queued")}

    with Socket(server.ws_url, cookie=session_cookie_for(reader), origin=server.url) as browser, \
            Socket(server.ws_url, token=token_for(reader)) as program:
        before = passed()
        for number in range(3):
            post(writer, channel, f"n{number}")
        seen = [[s.next("message.created")["seq"] for _ in range(3)] for s in (browser, program)]
        after = passed()
    assert seen == [[2, 3, 4], [2, 3, 4]]
    moved = {path: after[path] - before[path] for path in ("at_once", "queued")}
    # Six events passed on; a socket busy at that moment (with a presence change, say)
    # takes its event through dispatch, but neither kind of socket always does.
    assert moved["at_once"] + moved["queued"] == 6 and moved["at_once"] >= 4
