"""The messaging frames of the WebSocket stream (docs/realtime.md), registered with
realtime through MessagingConfig.realtime_handlers: `message.send` and `typing`."""

from __future__ import annotations

import logging
import time
from typing import Any

from channels.db import database_sync_to_async

from core.errors import InvalidInput, NotFound, as_teamchat_error, require_field
from core.live import TYPING_EVENT, conversation_group, encode
from messaging import services

logger = logging.getLogger(__name__)

TYPING_EVERY_SECONDS = 2.0
TYPING_EXPIRES_MS = 6000
CLOSE_SEND_FAILED = 4011  # autobahn lets an application close with 1000 or 3000-4999 only


async def message_send(socket: Any, frame: dict[str, Any]) -> None:
    conversation_id = require_field(frame, "conversation", int)
    text = require_field(frame, "text", str)
    client_msg_id = require_field(frame, "client_msg_id", str)
    thread_root = frame.get("thread_root")
    if thread_root is not None and not isinstance(thread_root, int):
        raise InvalidInput.of_field("thread_root", "'thread_root' must be a message id.")
    files = frame.get("files") or []
    if not isinstance(files, list) or not all(isinstance(f, int) for f in files):
        raise InvalidInput.of_field("files", "'files' must be a list of file ids.")
    also_in_channel = bool(frame.get("also_in_channel"))

    async def store() -> None:
        try:
            # In the thread pool (each thread with its own database connection), sends of
            # different sockets run side by side.
            payload = await database_sync_to_async(_send_message, thread_sensitive=False)(
                socket.user, conversation_id, text, client_msg_id, thread_root,
                also_in_channel, files)
        except Exception as error:
            refusal = as_teamchat_error(error)
            if refusal is not None:
                await socket.refuse(refusal, client_msg_id=client_msg_id)
                return
            # Unexpected: close, and the client's outbox sends it again (the
            # client_msg_id makes that safe).
            logger.exception("storing a message sent by %s failed", socket.user.pk)
            await socket.close(code=CLOSE_SEND_FAILED)
            return
        await socket.send_frame({"type": "message.ack", "client_msg_id": client_msg_id,
                                 "message": payload})

    # Stored off the consumer's turn, so events keep reaching this socket while its own
    # send waits on the database; in the order sent.
    socket.in_order(store)


def _send_message(user: Any, conversation_id: int, text: str, client_msg_id: str,
                  thread_root: int | None, also_in_channel: bool,
                  files: list[int]) -> dict[str, Any]:
    from messaging.payloads import message_payload

    result = services.message_create(author=user, conversation_id=conversation_id, text=text,
                                     client_msg_id=client_msg_id, thread_root_id=thread_root,
                                     also_in_channel=also_in_channel, file_ids=files)
    return result.payload or message_payload(result.message)


async def typing(socket: Any, frame: dict[str, Any]) -> None:
    conversation_id = require_field(frame, "conversation", int)
    if conversation_id not in socket.member_of:
        raise NotFound("No such conversation.")
    sent = socket.state.setdefault("typing_sent", {})
    now = time.monotonic()
    if now - sent.get(conversation_id, 0.0) < TYPING_EVERY_SECONDS:
        return  # throttled: the last signal is still fresh at the other end
    sent[conversation_id] = now
    signal = {"type": "typing", "conversation": conversation_id, "user": socket.user.pk,
              "expires_in_ms": TYPING_EXPIRES_MS}
    if isinstance(frame.get("thread_root"), int):
        signal["thread_root"] = frame["thread_root"]
    await socket.channel_layer.group_send(conversation_group(conversation_id), {
        "type": TYPING_EVENT, "conversation": conversation_id, "user": socket.user.pk,
        "text": encode(signal)})


FRAMES = {"message.send": message_send, "typing": typing}
