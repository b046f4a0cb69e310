"""The WebSocket event stream at /ws/ (docs/realtime.md).

Thin: each frame is parsed (realtime.frames) and handed to a service or selector; events
from the channel layer are relayed. What the consumer owns is delivery order, by the one
rule of realtime.delivery: per conversation it drops what the client already has and
fills any gap from the event log (checking membership again) before sending what comes
after it. So a client never sees a gap or a repeat, even when commits race and
broadcasts arrive out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from typing import Any

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from accounts import presence
from accounts.selectors import socket_access
from core import metrics, requestid
from core.errors import InvalidInput, NotFound, TeamchatError, as_teamchat_error, require_field
from core.live import (
    ACCESS_CHANGED,
    CONV_EVENT,
    TYPING_EVENT,
    encode,
    presence_group,
    user_group,
)
from messaging import selectors
from realtime import frames, registry
from realtime.access import sweep_for_loop
from realtime.delivery import Delivery, Live, Resume
from realtime.hub import Inbox, hub_for
from realtime.transport import OutgoingText, frame_writer

logger = logging.getLogger(__name__)

MAX_RESUME_CONVERSATIONS = 2000
# Token bucket per socket: a steady 10 frames a second with bursts of 40. A client that
# keeps flooding after being told is closed with CLOSE_FLOODING.
FRAME_RATE = 10.0
FRAME_BURST = 40.0
FLOOD_STRIKES_BEFORE_CLOSE = 20
CLOSE_FLOODING = 4029
CLOSE_SIGNED_OUT = 4001
CLOSE_TWO_FACTOR_REQUIRED = 4002
CLOSE_DEACTIVATED = 4003
CLOSE_ROLE_CHANGED = 4004
# The close code for each reason a socket may not stream (accounts.selectors.socket_refusal).
CLOSE_CODES = {"signed_out": CLOSE_SIGNED_OUT, "two_factor_required": CLOSE_TWO_FACTOR_REQUIRED,
               "deactivated": CLOSE_DEACTIVATED, "role_changed": CLOSE_ROLE_CHANGED}

_grace_tasks: set[asyncio.Task] = set()


class RealtimeConsumer(AsyncWebsocketConsumer):
    ended = False  # told why it may not stream and closed: nothing more is handled or sent
    expiry_timer: asyncio.TimerHandle | None = None  # a check when the session expires

    async def connect(self) -> None:
        self.user = self.scope["user"]
        # What let the socket open (accounts.websocket), checked again while it streams.
        session = self.scope.get("session") if self.scope.get("auth") == "session" else None
        self.session_key: str | None = session.session_key if session is not None else None
        self.token_id: int | None = self.scope.get("token_id")
        self.role = self.user.role
        # Made at the first in_order (a message.send): most sockets only listen.
        self.sends: asyncio.Queue[tuple[Any, ...] | None] | None = None
        self.sender: asyncio.Task | None = None  # runs self.sends in order
        self.state: dict[str, Any] = {}  # the registered handlers' own (realtime.registry)
        self.delivery = Delivery()
        self.member_of: set[int] = set()
        self.watching: set[int] = set()
        self.tokens = FRAME_BURST
        self.tokens_at = time.monotonic()
        self.strikes = 0
        await self.accept()
        await self.channel_layer.group_add(user_group(self.user.pk), self.channel_name)
        # The API's checks (the two-factor policy among them), with the reason told in a
        # close code the browser can read, which an HTTP refusal of the handshake is not.
        # Made in the person's group: a change committed from here on arrives as news.
        refusal, expires_in = await database_sync_to_async(socket_access)(**self.access())
        if refusal is not None:
            await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)
            await self.end(refusal)
            return
        self._check_at_expiry(expires_in)
        self.connection_id = uuid.uuid4().hex
        metrics.websocket_opened()  # balanced in disconnect, which runs once connection_id is set
        # Subscribe first, then read where each conversation stands: anything committed
        # in between arrives from the hub and is dropped as already known.
        conversation_ids = await database_sync_to_async(selectors.conversation_ids_for_socket)(
            user=self.user)
        for conversation_id in conversation_ids:
            await self.hub.follow(conversation_id, self)
        current = await database_sync_to_async(selectors.conversation_ids_for_socket)(
            user=self.user)
        joined = [c for c in current if c not in conversation_ids]
        if joined:
            # Added between the two reads: follow those too, then read again, so they
            # start from a seq read after their subscription as well.
            for conversation_id in joined:
                await self.hub.follow(conversation_id, self)
            current = await database_sync_to_async(selectors.conversation_ids_for_socket)(
                user=self.user)
        for conversation_id in conversation_ids:
            if conversation_id not in current:
                await self.hub.unfollow(conversation_id, self)  # left meanwhile
        self.member_of = set(current)
        for conversation_id, seq in current.items():
            self.delivery.follow(conversation_id, seq)
        partners = await database_sync_to_async(selectors.direct_partner_ids)(user=self.user)
        await self.watch(partners)
        # Read after joining their presence groups: a change from here on also arrives
        # as a `presence` frame, so the snapshot is never left stale.
        now = await database_sync_to_async(_open_with_presence)(self.user.pk, self.connection_id,
                                                                 partners)
        await self.send_frame({"type": "ready", "user": self.user.pk,
                          "conversations": {str(k): v for k, v in self.delivery.positions().items()},
                          "connection": self.connection_id,
                          "presence": [entry.as_frame() for entry in now]})
        # What ends a session without news is found by the process's scheduled check
        # of all its sockets (realtime/access.py).
        self.sweep.add(self)

    def access(self) -> dict[str, Any]:
        return {"user_id": self.user.pk, "role": self.role, "session_key": self.session_key,
                "token_id": self.token_id}

    def access_checked(self, refusal: TeamchatError | None, expires_in: float | None) -> None:
        """The scheduled check's answer: refused, the socket checks again on its own (in
        dispatch, like any event) before it ends; otherwise it looks at its expiry."""
        if refusal is not None:
            self.inbox.put_nowait({"type": ACCESS_CHANGED})
        else:
            self._check_at_expiry(expires_in)

    def _check_at_expiry(self, expires_in: float | None) -> None:
        """A session that expires before the next scheduled check is checked the moment it
        expires (a session used meanwhile may have been given longer: the check finds it
        valid and looks at its new expiry)."""
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
            self.expiry_timer = None
        if expires_in is not None and expires_in < settings.REALTIME_ACCESS_CHECK_SECONDS:
            self.expiry_timer = asyncio.get_running_loop().call_later(
                max(expires_in, 0.0) + 0.05, self.inbox.put_nowait, {"type": ACCESS_CHANGED})

    async def end(self, refusal: TeamchatError) -> None:
        """Tell the client why it may not stream, and close with that reason's code."""
        if self.ended:
            return
        await self.refuse(refusal)
        self.ended = True
        await self.close(code=CLOSE_CODES[refusal.code])

    async def disconnect(self, code: int) -> None:
        self.sweep.discard(self)
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
        if not hasattr(self, "connection_id"):
            return
        metrics.websocket_closed()
        for hook in registry.handlers().closed:
            await hook(self)
        for conversation_id in self.delivery:
            await self.hub.unfollow(conversation_id, self)
        for user_id in self.watching:
            await self.channel_layer.group_discard(presence_group(user_id), self.channel_name)
        await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)
        gone = await database_sync_to_async(presence.connection_close)(self.user.pk,
                                                                         self.connection_id)
        if gone:
            task = asyncio.get_running_loop().create_task(_announce_after_grace(self.user.pk))
            _grace_tasks.add(task)
            task.add_done_callback(_grace_tasks.discard)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """AsyncConsumer.__call__ with a cheaper loop around dispatch. Channels waits on
        the socket and the channel layer with a fresh asyncio.wait per event, and a new
        task for the next receive after each; a fan-out to 500 sockets paid that 500
        times. Here each source has one long-lived reader, and events are dispatched one
        at a time, each source's in the order they arrive."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        # Conversation events come from the process's hub (realtime/hub.py): written
        # at once by hub_event, or queued in the inbox for dispatch like any event.
        self.hub = hub_for(self.channel_layer)
        self.sweep = sweep_for_loop()
        self.inbox = Inbox()
        self.turn = Turn()
        self.write_frame = frame_writer(send)
        try:
            with contextlib.suppress(StopConsumer):  # the socket closed: end cleanly
                await _dispatch_as_they_arrive([receive, self.channel_receive, self.inbox.get],
                                               self.dispatch, self.turn)
        finally:
            self.sweep.discard(self)
            if self.expiry_timer is not None:
                self.expiry_timer.cancel()
            self.hub.forget(self)
            if getattr(self, "sends", None) is not None:
                # However the consumer ends: the sends still queued are stored all the
                # same (their acks are dropped), as a client that sends and closes at
                # once expects; then the sender ends.
                self.sends.put_nowait(None)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels closes stale database connections before every handler, through a hop
        to the sync thread; with hundreds of sockets that hop, paid for every event
        delivered, became the bottleneck. Every database call here goes through
        database_sync_to_async, which does that cleanup in its own thread."""
        registered = registry.handlers().events.get(message["type"])
        if registered is not None:
            await registered(self, message)
            return
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None,
                   close: bool = False) -> None:
        """Drop a frame for a socket that closed a moment ago. Daphne raises on such a
        send, which would end this consumer before the disconnect that is already on its
        way, and with it leaving the groups, closing presence and dropping the person from
        their call. Under daphne, a text frame is written straight to the connection
        (realtime/transport.frame_writer), in the same order as any other. Nothing is sent
        after the socket was told why it ends."""
        if self.ended and not close:
            return
        if (text_data is not None and not close and self.write_frame is not None
                and self.write_frame(OutgoingText(text_data))):
            return
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            logger.debug("a frame for %s arrived after their socket closed", self.user.pk)

    # --- Frames from the client ----------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.ended:
            return  # sent before the close reached the client: its access has ended
        requestid.begin_frame()
        if not self._take_token():
            self.strikes += 1
            if self.strikes >= FLOOD_STRIKES_BEFORE_CLOSE:
                await self.refuse(TeamchatError("Too many frames; closing the connection.",
                                                 code="flooding"))
                await self.close(code=CLOSE_FLOODING)
                return
            await self.refuse(TeamchatError(
                f"Slow down: at most {FRAME_RATE:g} frames a second.", code="rate_limited"))
            return
        frame = None
        try:
            frame = frames.parse(text_data, bytes_data)
            own = OWN_FRAMES.get(frame["type"])
            if own is not None:
                await own(self, frame)
            else:
                handler = registry.handlers().frames.get(frame["type"])
                if handler is None:
                    raise InvalidInput(f"Unknown frame type {frame['type']!r}.",
                                       code="unknown_type")
                await handler(self, frame)
        except StopConsumer:
            raise
        except Exception as error:
            refusal = as_teamchat_error(error)
            if refusal is None:
                # A bug or a service that is down: this frame is answered, the socket stays.
                logger.exception("handling a %s frame from %s failed",
                                 frame and frame["type"], self.user.pk)
                refusal = TeamchatError("The server could not handle this frame; try again.",
                                        code="server_error")
            await self.refuse(refusal, **frames.reference(frame, text_data))

    async def refuse(self, error: TeamchatError, **reference: Any) -> None:
        """Answer with the `error` frame for `error`, echoing `reference`."""
        await self.send_frame(frames.error_frame(error, **reference))

    def in_order(self, work: Any) -> None:
        """Run `work()` (a coroutine function) off this consumer's turn, after whatever was
        put here before it: so events keep reaching the socket while its own send waits on
        the database, and one socket's sends are stored in the order sent. One long-lived
        task per socket, not one per call: Django's cache client lives in the task's
        context, and a new context per send opened a Redis connection for every
        rate-limit check. What is queued runs even after the socket closed."""
        if self.sends is None:
            self.sends = asyncio.Queue()
            self.sender = asyncio.get_running_loop().create_task(self._run_in_order(self.sends))
        self.sends.put_nowait((requestid.request_id.get(), work))

    async def _run_in_order(self, queue: asyncio.Queue[tuple[Any, ...] | None]) -> None:
        while (item := await queue.get()) is not None:
            request, work = item
            requestid.request_id.set(request)
            try:
                await work()
            except Exception:
                # Never end while the socket is open: the work after it would wait forever.
                logger.exception("work queued for %s's socket failed", self.user.pk)

    def _take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(FRAME_BURST, self.tokens + (now - self.tokens_at) * FRAME_RATE)
        self.tokens_at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    async def frame_ping(self, frame: dict[str, Any]) -> None:
        await database_sync_to_async(presence.connection_heartbeat)(
            self.user.pk, self.connection_id, frame.get("state") or "active")
        await self.send_frame({"type": "pong"})

    async def frame_resume(self, frame: dict[str, Any]) -> None:
        since = require_field(frame, "since", dict)
        if len(since) > MAX_RESUME_CONVERSATIONS:
            raise InvalidInput.of_field("since", f"Resume at most {MAX_RESUME_CONVERSATIONS} conversations "
                                   "at once.", code="too_large")
        wanted: dict[int, int] = {}
        for key, value in since.items():
            try:
                conversation_id = int(key)
            except ValueError:
                raise InvalidInput.of_field("since", f"{key!r} is not a conversation id.") from None
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInput.of_field("since", f"since[{key}] must be a seq (0 or more).")
            wanted[conversation_id] = value
        for conversation_id, seq in wanted.items():
            if conversation_id not in self.delivery and not await self._subscribe_public(
                    conversation_id, notify=False):
                continue
            before = self.delivery.position(conversation_id)
            verdict = self.delivery.resume(conversation_id, seq)
            if verdict is Resume.REPLAY:
                try:
                    await self._catch_up(conversation_id)
                except BaseException:
                    # Nothing was written (the log is read first): back to where the
                    # socket stood, so a retried resume replays again.
                    self.delivery.skipped_to(conversation_id, before)
                    raise
            elif verdict is Resume.RESYNC:
                await self._resync(conversation_id, self.delivery.position(conversation_id),
                                   "Events after your seq were sent on this connection before "
                                   "your resume, so what came between can no longer be sent in "
                                   "order; reload this conversation over REST.")
        positions = self.delivery.positions()
        await self.send_frame({"type": "resumed",
                          "conversations": {str(c): positions[c] for c in wanted
                                            if c in positions}})

    async def frame_subscribe(self, frame: dict[str, Any]) -> None:
        conversation_id = require_field(frame, "conversation", int)
        if conversation_id not in self.delivery:
            await self._subscribe_public(conversation_id, notify=True)

    async def frame_unsubscribe(self, frame: dict[str, Any]) -> None:
        conversation_id = require_field(frame, "conversation", int)
        if conversation_id in self.delivery and conversation_id not in self.member_of:
            await self._drop(conversation_id)

    # --- Events from the channel layer ------------------------------------------------

    def hub_event(self, event: dict[str, Any], frame: OutgoingText) -> bool:
        """An event of a conversation this socket follows, from the hub: in the event
        loop, so between two steps of whatever this consumer is doing. It is written to
        the socket here, without a dispatch, when this consumer is handling nothing and
        has nothing queued before it, and it is the conversation's next event (or one
        the socket already has, dropped). Anything else (a gap to fill from the log, a
        membership change, a call's status) is queued for dispatch in order."""
        if self.ended:
            return True  # dropped: the socket is closing
        if (self.write_frame is not None and not self.turn.busy and not self.inbox
                and self._handled_now(event, frame)):
            return True
        self.inbox.put_nowait(event)
        return False

    def _handled_now(self, event: dict[str, Any], frame: OutgoingText) -> bool:
        kind = event["type"]
        if kind == TYPING_EVENT:
            return event["user"] == self.user.pk or self.write_frame(frame)
        if kind != CONV_EVENT or "leaving" in event:
            return False
        conversation_id, seq = event["conversation"], event["seq"]
        verdict = self.delivery.live(conversation_id, seq)
        if verdict is Live.DROP:
            return True  # no longer followed, or already sent: dropped, as conv_event does
        if verdict is Live.FILL or not self.write_frame(frame):
            return False
        self.delivery.wrote(conversation_id, seq)
        if event.get("event") == "message.created":
            metrics.message_delivered(event.get("sent_at"))
        return True

    async def conv_event(self, event: dict[str, Any]) -> None:
        conversation_id = event["conversation"]
        if event.get("membership") == "added":
            # Followed on the hub even if delivery knows it already (added while this
            # socket connected): following twice is following once.
            await self.hub.follow(conversation_id, self)
            self.delivery.follow(conversation_id, event["seq"] - 1)
            self.member_of.add(conversation_id)
        if conversation_id not in self.delivery:
            return
        await self._deliver(conversation_id, event["seq"], event["text"],
                            event.get("sent_at") if event.get("event") == "message.created" else None)
        if self.user.pk in event.get("leaving", ()):
            self.member_of.discard(conversation_id)
            await self._drop(conversation_id)

    async def user_event(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])

    async def typing_event(self, event: dict[str, Any]) -> None:
        if event["user"] != self.user.pk:  # never echoed to the typist
            await self.send(text_data=event["text"])

    async def presence_event(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])

    async def session_ended(self, event: dict[str, Any]) -> None:
        """The browser session this socket was opened with was signed out."""
        if self.session_key is not None and self.session_key in event["sessions"]:
            await self.end(TeamchatError("This session was signed out.", code="signed_out"))

    async def session_rekeyed(self, event: dict[str, Any]) -> None:
        """The session took a new key (a password change): follow it."""
        if self.session_key == event["old"]:
            self.session_key = event["new"]

    async def user_deactivated(self, event: dict[str, Any]) -> None:
        await self.end(TeamchatError("This account was deactivated.", code="deactivated"))

    async def access_changed(self, event: dict[str, Any]) -> None:
        """Told of a change (role, password, token, two-factor policy), its session's
        expiry, or refused by the scheduled check: check again that it may stream."""
        if self.ended:
            return
        refusal, expires_in = await database_sync_to_async(socket_access)(**self.access())
        if refusal is not None:
            await self.end(refusal)
        else:
            self._check_at_expiry(expires_in)

    # --- Delivery ------------------------------------------------------------------------

    async def _deliver(self, conversation_id: int, seq: int, text: str,
                       sent_at: float | None = None) -> None:
        """`sent_at` (time.time() at the broadcast) is given for new messages only: they
        are what the delivery metrics count."""
        verdict = self.delivery.live(conversation_id, seq)
        if verdict is Live.FILL:
            await self._catch_up(conversation_id)
            verdict = self.delivery.live(conversation_id, seq)
        if verdict is not Live.WRITE:
            return  # already sent (a replay covered it, or a second copy), or no longer followed
        self.delivery.wrote(conversation_id, seq)
        await self.send(text_data=text)
        if sent_at is not None:
            metrics.message_delivered(sent_at)

    async def _catch_up(self, conversation_id: int) -> None:
        """Send what the client misses after its position, from the event log."""
        since = self.delivery.position(conversation_id)
        if since is None:
            return
        try:
            replay = await database_sync_to_async(selectors.events_since)(
                user=self.user, conversation_id=conversation_id, since_seq=since)
        except NotFound:
            self.member_of.discard(conversation_id)
            await self._drop(conversation_id)
            await self.refuse(NotFound("No such conversation."), conversation=conversation_id)
            return
        if replay.resync:
            await self._resync(conversation_id, replay.last_seq,
                               "Too much was missed; reload this conversation over REST.")
            return
        for frame in replay.frames:
            if self.delivery.live(conversation_id, frame["seq"]) is Live.WRITE:
                self.delivery.wrote(conversation_id, frame["seq"])
                await self.send(text_data=encode(frame))

    async def _resync(self, conversation_id: int, seq: int, detail: str) -> None:
        """The client reloads the conversation over REST, up to `seq` at least."""
        self.delivery.skipped_to(conversation_id, seq)
        await self.send_frame({"type": "resync", "conversation": conversation_id, "seq": seq,
                          "detail": detail})

    async def _subscribe_public(self, conversation_id: int, *, notify: bool) -> bool:
        """Follow a conversation the person may see without being a member (a public
        channel they opened). False, with an error frame, when they may not."""
        # Subscribed before the seq is read, as on connect: an event committed in between
        # is within the seq reported, and nothing after it is missed. Until delivery
        # follows it, the hub's events of it are dropped here.
        await self.hub.follow(conversation_id, self)
        try:
            last_seq = await database_sync_to_async(_visible_last_seq)(self.user, conversation_id)
        except BaseException as error:
            await self.hub.unfollow(conversation_id, self)
            if not isinstance(error, TeamchatError):
                raise
            await self.refuse(error, conversation=conversation_id)
            return False
        self.delivery.follow(conversation_id, last_seq)
        if notify:
            await self.send_frame({"type": "subscribed", "conversation": conversation_id,
                              "seq": last_seq})
        return True

    async def _drop(self, conversation_id: int) -> None:
        self.delivery.drop(conversation_id)
        await self.hub.unfollow(conversation_id, self)

    async def watch(self, user_ids: list[int]) -> None:
        """Receive the presence changes of these people (never your own)."""
        for user_id in user_ids:
            if user_id not in self.watching and user_id != self.user.pk:
                self.watching.add(user_id)
                await self.channel_layer.group_add(presence_group(user_id), self.channel_name)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=encode(frame))


# The frames of the socket itself; the apps register the others (realtime.registry).
OWN_FRAMES = {"ping": RealtimeConsumer.frame_ping, "resume": RealtimeConsumer.frame_resume,
              "subscribe": RealtimeConsumer.frame_subscribe,
              "unsubscribe": RealtimeConsumer.frame_unsubscribe}


class Turn:
    """Whose turn it is to be handled. `lock` is held while an event is handled; `busy`
    counts the events read and not yet handled (the one being handled included), so it is
    never 0 while one waits for the lock, not even between a release and the next
    holder's wakeup, when the lock alone looks free."""

    __slots__ = ("busy", "lock")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.busy = 0


async def _dispatch_as_they_arrive(sources: list[Any], dispatch: Any,
                                   turn: Turn | None = None) -> None:
    """Each source (the socket, the channel layer) is read by a task of its own, which
    dispatches what it reads: one event at a time for the whole consumer, each source's
    in the order they arrived, the sources taking turns when both wait (an asyncio.Lock
    wakes its waiters first come, first served). Ends with
    the first exception a source or a handler raises (StopConsumer when the socket
    closes). An event costs one task wakeup: the reader's (a shared inbox read by one
    more task cost two, and the fan-out to 500 sockets paid each). `turn` tells whether
    anything is being handled or waits to be."""
    turn = turn or Turn()
    ended: list[BaseException] = []  # what ended it, first

    async def pump(source: Any) -> None:
        while True:
            try:
                message = await source()
            except Exception as error:
                async with turn.lock:  # after the event being handled, not in its middle
                    ended.append(error)
                raise
            turn.busy += 1
            try:
                async with turn.lock:
                    if ended:  # nothing after the event that ended it (the disconnect, say)
                        return
                    try:
                        await dispatch(message)
                    except Exception as error:
                        ended.append(error)
                        raise
            finally:
                turn.busy -= 1

    pumps = [asyncio.ensure_future(pump(source)) for source in sources]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
        if ended:
            raise ended[0]
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)


def _open_with_presence(user_id: int, connection_id: str,
                        partners: list[int]) -> list[presence.Presence]:
    """Count the socket's connection, then the presence of its person and the people they
    watch, as it is now."""
    mine = presence.connection_open(user_id, connection_id)
    return [mine, *presence.presence_many(p for p in partners if p != user_id)]


def _visible_last_seq(user: Any, conversation_id: int) -> int:
    conversation, _ = selectors.conversation_get_for_user(user=user,
                                                          conversation_id=conversation_id)
    return conversation.last_seq


async def _announce_after_grace(user_id: int) -> None:
    """Announce "offline" only if no connection came back within the grace period, so a
    reload does not flap."""
    await asyncio.sleep(presence.OFFLINE_GRACE)
    try:
        if not await database_sync_to_async(presence.is_connected)(user_id):
            await database_sync_to_async(presence.announce)(user_id)
    except Exception as error:  # noqa: BLE001  (a background task must log, not die silently)
        logger.warning("presence announcement for %s failed: %s", user_id,
                       as_teamchat_error(error) or error)
