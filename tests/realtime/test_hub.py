"""The process's conversation hub (realtime/hub.py) on the real channel layer (Redis when
the tests have it): one subscription per conversation however many local sockets follow
it, each event read once and handed to every follower, and the subscription ended with
the last follower, even when another socket follows at that very moment."""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace

import pytest
from channels.layers import get_channel_layer

from core.live import CONV_EVENT, TYPING_EVENT, conversation_group
from realtime.consumer import RealtimeConsumer, Turn
from realtime.delivery import Delivery
from realtime.hub import ConversationHub, Inbox, hub_for
from realtime.transport import OutgoingText


class Follower:
    """A socket as the hub sees it: records what it is handed."""

    def __init__(self, *, fails: bool = False) -> None:
        self.events: list[dict] = []
        self.frames: list = []
        self.fails = fails

    def hub_event(self, event, frame) -> bool:
        if self.fails:
            raise RuntimeError("this socket's handling broke")
        self.events.append(event)
        self.frames.append(frame)
        return True


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=20))


def event(conversation_id: int, seq: int) -> dict:
    return {"type": CONV_EVENT, "conversation": conversation_id, "seq": seq,
            "event": "message.created", "text": f'{{"seq":{seq},"text":"héllo"}}'}


async def until(condition, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def quiet() -> None:
    """Long enough for an event published to Redis to have come back, were it coming."""
    await asyncio.sleep(0.3)


def test_one_subscription_per_conversation_and_each_event_reaches_every_follower_once():
    async def scenario():
        layer = get_channel_layer()
        hub = ConversationHub(layer)
        first, second, elsewhere = Follower(), Follower(), Follower()
        await hub.follow(1001, first)
        await hub.follow(1001, second)
        await hub.follow(1002, elsewhere)
        assert hub.subscribed == {1001, 1002}
        await layer.group_send(conversation_group(1001), event(1001, 7))
        await until(lambda: first.events and second.events)
        await quiet()
        # Each has it once; the other conversation's follower nothing.
        assert first.events == second.events == [event(1001, 7)]
        assert elsewhere.events == []
        # One frame for both, framed once: text frame, unmasked, the UTF-8 text.
        assert first.frames[0] is second.frames[0]
        framed = first.frames[0].framed()
        assert framed[0] == 0x81 and framed[2:] == event(1001, 7)["text"].encode()
        if hasattr(layer, "groups"):  # the process's own bookkeeping: one channel, the hub's
            members = [group for name, group in layer.groups.items()
                       if name.endswith(conversation_group(1001))]
            assert [set(group) for group in members] == [{hub.channel}]
        await hub.unfollow(1001, first)
        await hub.unfollow(1001, second)
        await hub.unfollow(1002, elsewhere)

    run(scenario())


def test_the_last_follower_leaving_ends_the_subscription_and_the_reader():
    async def scenario():
        layer = get_channel_layer()
        hub = ConversationHub(layer)
        staying, leaving = Follower(), Follower()
        await hub.follow(1003, staying)
        await hub.follow(1003, leaving)
        await hub.unfollow(1003, leaving)
        await layer.group_send(conversation_group(1003), event(1003, 2))
        await until(lambda: staying.events)
        assert leaving.events == [] and hub.subscribed == {1003}
        await hub.unfollow(1003, staying)
        assert hub.subscribed == set() and hub.reader is None and hub.channel is None
        assert hub.locks == {} and hub.settling == {}
        await layer.group_send(conversation_group(1003), event(1003, 3))
        await quiet()
        assert [e["seq"] for e in staying.events] == [2]

    run(scenario())


class AlteredLayer:
    """The real layer, but for what a subclass changes."""

    def __init__(self, layer) -> None:
        self.layer = layer

    def __getattr__(self, name):
        return getattr(self.layer, name)


class SlowToLeave(AlteredLayer):
    """The layer, with each group_discard held until `release` is set."""

    def __init__(self, layer) -> None:
        super().__init__(layer)
        self.release = asyncio.Event()

    async def group_discard(self, group, channel):
        await self.release.wait()
        await self.layer.group_discard(group, channel)


def test_a_socket_following_while_the_last_one_leaves_stays_subscribed():
    async def scenario():
        layer = SlowToLeave(get_channel_layer())
        hub = ConversationHub(layer)
        old, new = Follower(), Follower()
        await hub.follow(1004, old)
        # The unsubscribe is under way (awaiting the layer) when the new socket follows.
        leaving = asyncio.ensure_future(hub.unfollow(1004, old))
        await asyncio.sleep(0.05)
        assert 1004 in hub.settling and 1004 not in hub.subscribed
        following = asyncio.ensure_future(hub.follow(1004, new))
        await asyncio.sleep(0.05)
        assert not following.done()  # waits for the unsubscribe, then subscribes again
        layer.release.set()
        await asyncio.gather(leaving, following)
        assert hub.subscribed == {1004}
        await layer.group_send(conversation_group(1004), event(1004, 5))
        await until(lambda: new.events)
        assert [e["seq"] for e in new.events] == [5] and old.events == []
        await hub.unfollow(1004, new)

    run(scenario())


def test_forget_drops_a_socket_from_every_conversation():
    async def scenario():
        layer = get_channel_layer()
        hub = ConversationHub(layer)
        gone, other = Follower(), Follower()
        for conversation_id in (1005, 1006):
            await hub.follow(conversation_id, gone)
        await hub.follow(1006, other)
        hub.forget(gone)
        await until(lambda: hub.subscribed == {1006} and not hub.settling)
        await layer.group_send(conversation_group(1005), event(1005, 2))
        await layer.group_send(conversation_group(1006), event(1006, 2))
        await until(lambda: other.events)
        await quiet()
        assert gone.events == [] and [e["conversation"] for e in other.events] == [1006]
        await hub.unfollow(1006, other)

    run(scenario())


def test_a_follower_that_fails_is_logged_and_the_others_still_have_the_event(caplog):
    async def scenario():
        layer = get_channel_layer()
        hub = ConversationHub(layer)
        broken, fine = Follower(fails=True), [Follower() for _ in range(5)]
        for follower in [broken, *fine]:
            await hub.follow(1007, follower)
        await layer.group_send(conversation_group(1007), event(1007, 2))
        await until(lambda: all(f.events for f in fine))
        assert "passing a conv.event event to a socket failed" in caplog.text
        await layer.group_send(conversation_group(1007), event(1007, 3))
        await until(lambda: all(len(f.events) == 2 for f in fine))
        assert all([e["seq"] for e in f.events] == [2, 3] for f in fine)
        for follower in [broken, *fine]:
            await hub.unfollow(1007, follower)

    with caplog.at_level(logging.ERROR, logger="realtime.hub"):
        run(scenario())


class BrokenOnce(AlteredLayer):
    """The layer, whose receive fails once (a message it cannot decode, say)."""

    failed = False

    async def receive(self, channel):
        if not self.failed:
            self.failed = True
            raise ValueError("undecodable")
        return await self.layer.receive(channel)


def test_the_reader_outlives_a_failed_receive(caplog):
    async def scenario():
        layer = BrokenOnce(get_channel_layer())
        hub = ConversationHub(layer)
        follower = Follower()
        await hub.follow(1008, follower)
        await layer.group_send(conversation_group(1008), event(1008, 2))
        await until(lambda: follower.events, seconds=5)
        assert layer.failed and "reading conversation events" in caplog.text
        await hub.unfollow(1008, follower)

    with caplog.at_level(logging.ERROR, logger="realtime.hub"):
        run(scenario())


def test_each_event_loop_has_its_own_hub():
    layer = get_channel_layer()

    async def hubs():
        return hub_for(layer), hub_for(layer)

    first, same = run(hubs())
    other, _ = run(hubs())
    assert first is same and first is not other and first.layer is layer


# --- The consumer's side: written at once, or queued for its dispatch ------------------------


class Written:
    """A socket's direct writer; `open` False is a connection that is closing."""

    def __init__(self, *, open: bool = True) -> None:
        self.frames: list = []
        self.open = open

    def __call__(self, frame) -> bool:
        if self.open:
            self.frames.append(frame)
        return self.open


def consumer(*, last_sent: dict[int, int], writer: Written | None) -> RealtimeConsumer:
    socket = RealtimeConsumer()
    socket.user = SimpleNamespace(pk=7)
    socket.delivery = Delivery()
    for conversation_id, seq in last_sent.items():
        socket.delivery.follow(conversation_id, seq)
    socket.inbox = Inbox()
    socket.turn = Turn()
    socket.write_frame = writer
    return socket


CASES = {
    # name: (event, last_sent, handled at once, written, last_sent after)
    "the next event": (event(1, 5), {1: 4}, True, True, {1: 4 + 1}),
    "one already sent": (event(1, 4), {1: 4}, True, False, {1: 4}),
    "a conversation no longer followed": (event(1, 5), {}, True, False, {}),
    "a gap to fill from the log": (event(1, 7), {1: 4}, False, False, {1: 4}),
    "someone leaving": ({**event(1, 5), "leaving": [9]}, {1: 4}, False, False, {1: 4}),
    "a call's status": ({"type": "call.status", "conversation": 1, "text": "{}"}, {1: 4},
                        False, False, {1: 4}),
    "someone else typing": ({"type": TYPING_EVENT, "conversation": 1, "user": 8, "text": "{}"},
                            {1: 4}, True, True, {1: 4}),
    "their own typing": ({"type": TYPING_EVENT, "conversation": 1, "user": 7, "text": "{}"},
                         {1: 4}, True, False, {1: 4}),
}


@pytest.mark.parametrize("case", CASES)
def test_an_idle_consumer_writes_the_next_event_at_once_and_queues_the_rest(case):
    hub_event, last_sent, at_once, written, after = CASES[case]

    async def scenario():
        writer = Written()
        socket = consumer(last_sent=last_sent, writer=writer)
        frame = OutgoingText(hub_event["text"])
        assert socket.hub_event(hub_event, frame) is at_once
        assert writer.frames == ([frame] if written else [])
        assert socket.delivery.positions() == after
        assert len(socket.inbox) == (0 if at_once else 1)

    run(scenario())


@pytest.mark.parametrize("state", ["handling an event", "an event read, waiting for its turn",
                                   "events queued before it",
                                   "a closing connection", "no direct writer"])
def test_a_consumer_that_cannot_write_at_once_queues_even_the_next_event(state):
    async def scenario():
        writer = None if state == "no direct writer" else Written(
            open=state != "a closing connection")
        socket = consumer(last_sent={1: 4}, writer=writer)
        if state == "handling an event":
            await socket.turn.lock.acquire()
            socket.turn.busy = 1
        if state == "an event read, waiting for its turn":
            socket.turn.busy = 1  # the lock looks free: the last holder just let go
        if state == "events queued before it":
            socket.inbox.put_nowait(event(1, 5))
        assert socket.hub_event(event(1, 5), OutgoingText("x")) is False
        assert socket.delivery.positions() == {1: 4}  # the dispatch decides, in order
        assert len(socket.inbox) == (2 if state == "events queued before it" else 1)
        assert writer is None or writer.frames == []

    run(scenario())


def test_an_inbox_gives_its_events_in_order_to_the_reader_waiting_on_it():
    async def scenario():
        inbox = Inbox()
        reader = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        assert not reader.done() and len(inbox) == 0
        inbox.put_nowait(event(1, 2))
        inbox.put_nowait(event(1, 3))
        assert len(inbox) == 2  # the first counts until the reader has taken it
        assert (await reader)["seq"] == 2 and len(inbox) == 1
        assert (await inbox.get())["seq"] == 3 and not inbox
        cancelled = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        cancelled.cancel()  # a consumer ending while it waits
        await asyncio.gather(cancelled, return_exceptions=True)
        inbox.put_nowait(event(1, 4))
        assert (await inbox.get())["seq"] == 4

    run(scenario())


def test_a_resume_whose_replay_failed_replays_when_retried(monkeypatch):
    """The log could not be read (the database away for a moment): the socket stays where
    it stood, so the client's retried resume replays what it misses."""
    from django.db import OperationalError

    from messaging import selectors
    from messaging.selectors import Replay

    def failing(**arguments):
        raise OperationalError("the database is restarting")

    def replay(*, user, conversation_id, since_seq):
        seqs = range(since_seq + 1, 11)
        return Replay([{"type": "message.created", "conversation": conversation_id, "seq": s}
                       for s in seqs], 10, False)

    async def scenario():
        socket = consumer(last_sent={1: 10}, writer=Written())
        written, answers = [], []

        async def send(text_data=None, **kwargs):
            written.append(json.loads(text_data)["seq"])

        async def send_frame(frame):
            answers.append(frame)

        socket.send, socket.send_frame = send, send_frame
        resume = {"type": "resume", "since": {"1": 7}}
        monkeypatch.setattr(selectors, "events_since", failing)
        with pytest.raises(OperationalError):
            await socket.frame_resume(resume)
        assert socket.delivery.positions() == {1: 10} and written == []
        monkeypatch.setattr(selectors, "events_since", replay)
        await socket.frame_resume(resume)
        assert written == [8, 9, 10]
        assert answers == [{"type": "resumed", "conversations": {"1": 10}}]

    run(scenario())
