"""Delivery order through real daphne processes (docs/realtime.md, "Order"): a socket
never sends a conversation's seq at or below one it already sent, across `ready`,
`resume`, gap-fill and resync, and a client following the documented loop misses
nothing."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from messaging.models import Conversation
from tests.factories import make_channel, make_user, post
from tests.realtime import Frame, Socket, StrictClient, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("servers_settled")]

EVENTS = ("conversation.created", "member.joined", "message.created", "message.edited",
          "message.deleted", "reaction.added", "resync", "resumed")


def seqs_of(frames: list[Frame], conversation_id: int) -> list[int]:
    """The seqs of the conversation's events among `frames` (not resync or resumed)."""
    return [f["seq"] for f in frames if f["type"] not in ("resumed", "resync")
            and f.get("conversation") == conversation_id]


def test_a_resume_from_below_what_the_socket_already_sent_repeats_nothing(daphne_pair):
    # Given Bob holds seq 2 of a channel, and its seq is 3 when he reconnects
    alice, bob = make_user(), make_user()
    channel = make_channel(alice, members=[bob])  # seq 1: member.joined
    post(alice, channel, "two")
    post(alice, channel, "three")
    with Socket(daphne_pair[1].ws_url, token=token_for(bob)) as socket:
        assert socket.ready["conversations"] == {str(channel.pk): 3}
        # When one message is posted before his resume, then he resumes from 2
        post(alice, channel, "four")
        assert socket.next("message.created")["seq"] == 4
        socket.send(type="resume", since={str(channel.pk): 2})
        socket.next("resumed")
        post(alice, channel, "five")
        later = socket.collect(*EVENTS, seconds=1.0)

    # Then 4 alone was sent: seq 3 can no longer come in order, so he is told to reload
    frames = [f for f in socket.backlog if f["type"] in EVENTS] + later
    assert [(f["type"], f["seq"]) for f in frames] == [("resync", 4), ("message.created", 5)]
    assert "reload" in frames[0]["detail"]


def test_a_resume_right_after_ready_replays_from_the_clients_seq(daphne_pair):
    alice, bob = make_user(), make_user()
    channel = make_channel(alice, members=[bob])
    for n in range(3):
        post(alice, channel, f"m{n}")
    with Socket(daphne_pair[0].ws_url, token=token_for(bob)) as socket:
        socket.send(type="resume", since={str(channel.pk): 2})
        resumed = socket.next("resumed")
        replayed = [f for f in socket.backlog if f["type"] in EVENTS]
    assert [f["seq"] for f in replayed] == [3, 4]
    assert resumed["conversations"] == {str(channel.pk): 4}


@pytest.mark.parametrize("seed", range(6))
def test_random_interleavings_of_posts_resumes_and_reconnects_keep_the_order(daphne_pair, seed):
    """A strict-seq client on two processes, while messages, edits and reactions are
    posted, resumes arrive from a seq a little behind what the socket reported, events
    race the resume, and the client reconnects to either process."""
    from messaging import services

    rng = random.Random(seed)
    alice, bob = make_user(), make_user()
    channel = make_channel(alice, members=[bob])
    token = token_for(bob)
    client = StrictClient(channel.pk, 1)
    posted = []

    def act() -> None:
        roll = rng.random()
        if roll < 0.6 or not posted:
            posted.append(post(alice, channel, f"m{len(posted)}"))
        elif roll < 0.8:
            services.reaction_add(actor=alice, message_id=rng.choice(posted).pk,
                                  emoji_value=rng.choice(["👍", "🎉", "✅", "👀"]))
        else:
            services.message_edit(actor=alice, message_id=rng.choice(posted).pk,
                                  text=f"edited {rng.random()}")

    for _round in range(4):
        for _ in range(rng.randint(0, 4)):  # while Bob is away
            act()
        # A client that lost a little of what it had (a tab restored from an old state).
        client = StrictClient(channel.pk, rng.randint(max(0, client.held - 2), client.held))
        seqs: list[int] = []
        with Socket(rng.choice(daphne_pair).ws_url, token=token) as socket:
            for _ in range(rng.randint(0, 3)):  # events racing the resume
                act()
            socket.send(type="resume", since={str(channel.pk): client.held})
            for _ in range(rng.randint(0, 5)):
                act()
            last = Conversation.objects.get(pk=channel.pk).last_seq
            for _ in range(15):
                frames = socket.collect(*EVENTS, seconds=0.3)
                for frame in frames:
                    client.apply(frame)
                seqs += seqs_of(frames, channel.pk)
                if client.held == last:
                    break
                if rng.random() < 0.3:  # resume again from what it holds by now
                    socket.send(type="resume", since={str(channel.pk): client.held})

        # Within one socket, strictly increasing; and the client misses nothing.
        assert all(a < b for a, b in pairwise(seqs)), (seed, seqs)
        assert (client.held, client.aside) == (last, set()), (seed, seqs)
