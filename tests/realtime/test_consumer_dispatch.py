"""The consumer's event loop (realtime.consumer._dispatch_as_they_arrive): events from the socket
and the channel layer are handled one at a time, each source's in the order they arrived,
and whatever ends the consumer ends it after the event being handled, never in its
middle."""

from __future__ import annotations

import asyncio

import pytest
from channels.exceptions import StopConsumer

from realtime.consumer import Turn, _dispatch_as_they_arrive


class Source:
    """A socket or a channel layer: what is put in comes out; `fail` makes it raise."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def put(self, item) -> None:
        self.queue.put_nowait(item)

    async def __call__(self):
        item = await self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=10))


def test_events_are_handled_one_at_a_time_in_arrival_order():
    async def scenario():
        socket, layer, handled, busy = Source(), Source(), [], []
        release = asyncio.Event()

        async def dispatch(message):
            assert not busy, "two events handled at once"
            busy.append(message)
            if message == "resume":
                layer.put("event 1")  # arrive while the resume is handled
                layer.put("event 2")
                socket.put("ping")
                await release.wait()
            handled.append(message)
            busy.pop()
            if message == "disconnect":
                raise StopConsumer

        loop_task = asyncio.ensure_future(_dispatch_as_they_arrive([socket, layer], dispatch))
        socket.put("resume")
        await asyncio.sleep(0.05)
        assert handled == []  # the resume still holds the turn
        release.set()
        await asyncio.sleep(0.05)
        socket.put("disconnect")
        layer.put("event 3")
        with pytest.raises(StopConsumer):
            await loop_task
        return handled

    # Each source's events in the order they arrived; waiting sources take turns.
    assert run(scenario()) == ["resume", "event 1", "ping", "event 2", "disconnect"]


def test_nothing_is_handled_after_the_event_that_ended_it():
    async def scenario():
        socket, layer, handled = Source(), Source(), []

        async def dispatch(message):
            handled.append(message)
            if message == "disconnect":
                layer.put("late event")  # waits for the turn while the disconnect is handled
                await asyncio.sleep(0.05)
                raise StopConsumer

        socket.put("disconnect")
        with pytest.raises(StopConsumer):
            await _dispatch_as_they_arrive([socket, layer], dispatch)
        return handled

    assert run(scenario()) == ["disconnect"]


def test_a_failing_source_waits_for_the_event_being_handled_and_its_error_ends_it():
    async def scenario():
        socket, layer, finished = Source(), Source(), []

        async def dispatch(message):
            layer.put(RuntimeError("layer lost"))  # fails while this is handled
            await asyncio.sleep(0.05)
            finished.append(message)  # not cut short by the failure

        socket.put("resume")
        with pytest.raises(RuntimeError, match="layer lost"):
            await _dispatch_as_they_arrive([socket, layer], dispatch)
        return finished

    assert run(scenario()) == ["resume"]


def test_the_turn_counts_every_event_read_until_it_is_handled():
    async def scenario():
        socket, layer, turn = Source(), Source(), Turn()
        release = asyncio.Event()
        busy_when_handled = {}

        async def dispatch(message):
            busy_when_handled[message] = turn.busy
            if message == "resume":
                await release.wait()
            if message == "disconnect":
                raise StopConsumer

        loop_task = asyncio.ensure_future(_dispatch_as_they_arrive([socket, layer], dispatch, turn))
        await asyncio.sleep(0.01)
        assert turn.busy == 0
        socket.put("resume")
        await asyncio.sleep(0.01)
        layer.put("event")  # read, and waiting for the resume to be done
        await asyncio.sleep(0.01)
        assert turn.busy == 2 and turn.lock.locked()
        release.set()
        await asyncio.sleep(0.01)
        assert turn.busy == 0 and busy_when_handled == {"resume": 1, "event": 1}
        socket.put("disconnect")
        with pytest.raises(StopConsumer):
            await loop_task
        assert turn.busy == 0

    run(scenario())
