"""The call frames of the WebSocket stream (docs/realtime.md, "Calls"), registered with
realtime through CallsConfig.realtime_handlers: each frame is parsed and handed to a
service in calls.services; call events from the channel layer are passed on to the
socket they name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.db import database_sync_to_async

from calls import services
from calls.events import CALL_EVENT, CALL_STATUS
from core.errors import InvalidInput, as_teamchat_error
from core.live import user_group

logger = logging.getLogger(__name__)

_ring_timers: set[asyncio.Task] = set()


def _id(frame: dict[str, Any], field: str) -> int:
    value = frame.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput.for_field(field, f"An id is required for {frame['type']}.")
    return value


async def call_start(socket: Any, frame: dict[str, Any]) -> None:
    await database_sync_to_async(services.call_start)(
        actor=socket.user, conversation_id=_id(frame, "conversation"),
        media=frame.get("media"), invite=frame.get("invite"), connection=socket.connection_id)


async def call_accept(socket: Any, frame: dict[str, Any]) -> None:
    await database_sync_to_async(services.call_accept)(
        actor=socket.user, call_id=_id(frame, "call"), connection=socket.connection_id)


async def call_decline(socket: Any, frame: dict[str, Any]) -> None:
    await database_sync_to_async(services.call_decline)(actor=socket.user,
                                                        call_id=_id(frame, "call"))


async def call_cancel(socket: Any, frame: dict[str, Any]) -> None:
    await database_sync_to_async(services.call_cancel)(actor=socket.user,
                                                       call_id=_id(frame, "call"))


async def call_leave(socket: Any, frame: dict[str, Any]) -> None:
    await database_sync_to_async(services.call_leave)(
        actor=socket.user, call_id=_id(frame, "call"), connection=socket.connection_id)


async def call_media(socket: Any, frame: dict[str, Any]) -> None:
    await database_sync_to_async(services.call_media_set)(
        actor=socket.user, call_id=_id(frame, "call"), connection=socket.connection_id,
        audio=frame.get("audio"), video=frame.get("video"), screen=frame.get("screen"))


async def call_signal(socket: Any, frame: dict[str, Any]) -> None:
    relay = await database_sync_to_async(services.call_signal)(
        actor=socket.user, call_id=_id(frame, "call"), connection=socket.connection_id,
        to=frame.get("to"), description=frame.get("description"),
        candidate=frame.get("candidate"))
    await socket.channel_layer.group_send(user_group(relay.user_id), relay.message)


async def call_event(socket: Any, event: dict[str, Any]) -> None:
    """A call frame for this person; some are for the socket in the call only."""
    if event.get("connection") not in (None, socket.connection_id):
        return
    if event.get("except_connection") == socket.connection_id:
        return
    await socket.send(text_data=event["text"])
    if "ring_until" in event:
        task = asyncio.get_running_loop().create_task(
            _expire_ring(event["call"], event["ring_until"]))
        _ring_timers.add(task)
        task.add_done_callback(_ring_timers.discard)


async def call_status(socket: Any, event: dict[str, Any]) -> None:
    """A call started, changed or ended in a conversation: for its members' sockets
    (a public channel's onlookers see nothing of it)."""
    if event["conversation"] in socket.member_of:
        await socket.send(text_data=event["text"])


async def connection_closed(socket: Any) -> None:
    """Drop this socket's person from the call it was in."""
    try:
        await database_sync_to_async(services.call_connection_closed)(
            user=socket.user, connection=socket.connection_id)
    except Exception as error:  # noqa: BLE001  (the rest of the disconnect must run)
        logger.warning("dropping %s from their call failed: %s", socket.user.pk,
                       as_teamchat_error(error) or error)


FRAMES = {"call.start": call_start, "call.accept": call_accept, "call.decline": call_decline,
          "call.cancel": call_cancel, "call.leave": call_leave, "call.signal": call_signal,
          "call.media": call_media}
EVENTS = {CALL_EVENT: call_event, CALL_STATUS: call_status}
CLOSED = (connection_closed,)


async def _expire_ring(call_id: int, ring_until: float) -> None:
    """At the ring deadline, mark whoever has not answered as having missed the call. Each
    socket that rang runs one of these; the service makes all but the first a no-op."""
    await asyncio.sleep(max(0.0, ring_until - time.time()) + 0.1)
    try:
        await database_sync_to_async(services.call_ring_expire)(call_id=call_id)
    except Exception as error:  # noqa: BLE001  (a background task must log, not die silently)
        logger.warning("ring timeout of call %s failed: %s", call_id,
                       as_teamchat_error(error) or error)
