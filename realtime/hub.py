"""One subscriber per process for each conversation: the hub passes its events to the
sockets of this process that follow it.

Each socket used to join the conversation's group itself, so an event to 100 local
members was 100 layer messages queued, 100 consumer tasks woken, 100 dispatches and 100
WebSocket frames built from the same text. Now the process's hub joins the group once
(while any local socket follows the conversation), reads each event once, frames it
once, and hands it to each follower's `hub_event`, which writes it straight to the
socket when it is the next event in order and the consumer is handling nothing else.
Any other event goes through the consumer's own dispatch as before (see consumer.py),
so the ordering guarantees stay the consumer's.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from typing import Any, Protocol

from core import metrics
from core.live import conversation_group
from realtime.transport import OutgoingText

logger = logging.getLogger(__name__)


class Follower(Protocol):
    def hub_event(self, event: dict[str, Any], frame: OutgoingText) -> bool:
        """True when handled at once, False when queued for the consumer's dispatch."""


class Inbox:
    """A socket's queue of hub events awaiting dispatch, read by one task. asyncio.Queue
    does the same with four deques and an Event, a few KiB for every idle socket."""

    __slots__ = ("items", "waiter")

    def __init__(self) -> None:
        self.items: deque[dict[str, Any]] = deque()
        self.waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def put_nowait(self, item: dict[str, Any]) -> None:
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def get(self) -> dict[str, Any]:
        """The oldest item, once there is one; it stays queued (so `len` counts it) until
        the reader takes it."""
        while not self.items:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.items.popleft()


class ConversationHub:
    """The conversation subscriptions of one event loop's sockets on one channel layer."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.followers: dict[int, set[Follower]] = {}
        self.subscribed: set[int] = set()
        # Subscription changes of one conversation happen one at a time: a socket that
        # follows while the last follower's unsubscribe is under way must wait for it
        # and subscribe again. `settling` counts those under way (or waiting).
        self.locks: dict[int, asyncio.Lock] = {}
        self.settling: dict[int, int] = {}
        self.channel: str | None = None
        self.channel_made = asyncio.Lock()
        self.reader: asyncio.Task | None = None
        self.background: set[asyncio.Task] = set()

    async def follow(self, conversation_id: int, socket: Follower) -> None:
        """Pass the conversation's events to the socket from now on: once this returns,
        the process is subscribed, so an event committed after it reaches the socket."""
        self.followers.setdefault(conversation_id, set()).add(socket)
        if conversation_id not in self.subscribed or conversation_id in self.settling:
            await self._settle(conversation_id)

    async def unfollow(self, conversation_id: int, socket: Follower) -> None:
        sockets = self.followers.get(conversation_id)
        if sockets is None or socket not in sockets:
            return
        sockets.discard(socket)
        if not sockets:
            del self.followers[conversation_id]
            await self._settle(conversation_id)

    def forget(self, socket: Follower) -> None:
        """Drop the socket from every conversation (its consumer ended, however it ended)."""
        for conversation_id, sockets in list(self.followers.items()):
            if socket in sockets:
                sockets.discard(socket)
                if not sockets:
                    del self.followers[conversation_id]
                    task = asyncio.get_running_loop().create_task(self._settle(conversation_id))
                    self.background.add(task)
                    task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("unsubscribing a conversation nobody follows failed",
                         exc_info=task.exception())

    def deliver(self, event: dict[str, Any]) -> None:
        """Hand one event of the layer to the conversation's followers, in the loop and
        without awaiting: each decides at once whether to write it now."""
        sockets = self.followers.get(event.get("conversation"))  # type: ignore[arg-type]
        if not sockets:
            return  # its last follower left a moment ago
        frame = OutgoingText(event.get("text") or "")
        at_once = 0
        for socket in tuple(sockets):
            try:
                at_once += socket.hub_event(event, frame)
            except Exception:
                # The others must still have it; this socket fills the gap from the log
                # at its next event, if it can.
                logger.exception("passing a %s event to a socket failed", event.get("type"))
        metrics.hub_events_passed(at_once, len(sockets) - at_once)

    async def _settle(self, conversation_id: int) -> None:
        """Make the subscription match whether anyone follows the conversation now."""
        lock = self.locks.setdefault(conversation_id, asyncio.Lock())
        self.settling[conversation_id] = self.settling.get(conversation_id, 0) + 1
        try:
            async with lock:
                wanted = conversation_id in self.followers
                if wanted == (conversation_id in self.subscribed):
                    return
                channel = await self._channel()
                # Read from the moment the channel exists: stopping the reader is also
                # what removes the channel from Redis's layer, should this subscription fail.
                self._start_reading()
                group = conversation_group(conversation_id)
                if wanted:
                    await self.layer.group_add(group, channel)
                    self.subscribed.add(conversation_id)
                else:
                    self.subscribed.discard(conversation_id)
                    await self.layer.group_discard(group, channel)
        finally:
            self.settling[conversation_id] -= 1
            if not self.settling[conversation_id]:
                del self.settling[conversation_id]
                del self.locks[conversation_id]
            if not self.subscribed and not self.settling:
                self._stop_reading()

    async def _channel(self) -> str:
        async with self.channel_made:
            if self.channel is None:
                self.channel = await self.layer.new_channel("hub.")
            return self.channel

    def _start_reading(self) -> None:
        if self.reader is None or self.reader.done():
            self.reader = asyncio.get_running_loop().create_task(self._read(self.channel))

    def _stop_reading(self) -> None:
        # Nothing is subscribed or about to be (checked without an await before this),
        # so nothing more arrives; the task must not outlive its event loop's last
        # socket (a test's loop, say). A cancelled receive drops its channel on Redis's
        # layer, so the next subscription makes a new one.
        if self.reader is not None:
            self.reader.cancel()
            self.reader = None
        self.channel = None

    async def _read(self, channel: str | None) -> None:
        # Nothing but cancellation ends it: every socket of the process depends on it.
        while True:
            try:
                event = await self.layer.receive(channel)
            except Exception:
                logger.exception("reading conversation events from the channel layer failed")
                await asyncio.sleep(0.5)
                continue
            try:
                self.deliver(event)
            except Exception:
                logger.exception("passing on a %s event failed", event.get("type"))


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ConversationHub] = (
    weakref.WeakKeyDictionary())


def hub_for(layer: Any) -> ConversationHub:
    """The hub of the running event loop on this channel layer."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = _hubs[loop] = ConversationHub(layer)
    return hub
