"""Realtime plumbing: group names, the conversation event log, and broadcasts on commit.

Group names are built from ids only: `conv.<id>` for a conversation's subscribers,
`user.<id>` for every socket of one person. Layer messages carry the frame already
encoded as JSON text, so a fan-out to hundreds of sockets encodes it once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from messaging.models import Conversation, ConversationEvent, Message
from messaging.payloads import message_payload
from teamchat import metrics, requestid

# Layer message types, handled by consumers.RealtimeConsumer.
CONV_EVENT = "conv.event"
USER_EVENT = "user.event"
USER_DEACTIVATED = "user.deactivated"
SESSION_ENDED = "session.ended"
TYPING_EVENT = "typing.event"
PRESENCE_EVENT = "presence.event"

MESSAGE_EVENTS = {"message.created", "message.edited", "message.deleted"}


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def presence_group(user_id: int) -> str:
    """Sockets watching one person's presence."""
    return f"presence.{user_id}"


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def group_send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, message)


def thread_summary(root: Message) -> dict[str, Any]:
    return {
        "root": root.pk,
        "reply_count": root.reply_count,
        "last_reply_at": root.last_reply_at.isoformat().replace("+00:00", "Z")
        if root.last_reply_at else None,
        "participants": root.thread_participants,
    }


def event_frame(
    event_type: str,
    conversation_id: int,
    seq: int,
    *,
    message: Message | None = None,
    thread_root: Message | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": event_type, "conversation": conversation_id, "seq": seq}
    frame.update(payload or {})
    if message is not None:
        frame["message"] = message_payload(message)
    if thread_root is not None:
        frame["thread"] = thread_summary(thread_root)
    return frame


def event_record(
    *,
    conversation: Conversation,
    event_type: str,
    message: Message | None = None,
    thread_root: Message | None = None,
    payload: dict[str, Any] | None = None,
    subscribe_users: Iterable[int] = (),
    unsubscribe_users: Iterable[int] = (),
    touch_last_message: bool = False,
) -> dict[str, Any]:
    """Give an event the conversation's next seq, log it, and broadcast it after commit.

    Call inside a transaction that holds the conversation row lock (select_for_update),
    so seqs are handed out one at a time and without gaps. `subscribe_users` and
    `unsubscribe_users` are people whose sockets start or stop following the
    conversation with this event.
    """
    conversation.last_seq += 1
    seq = conversation.last_seq
    updates: dict[str, Any] = {"last_seq": seq}
    if touch_last_message:
        conversation.last_message_at = message.created_at if message else timezone.now()
        updates["last_message_at"] = conversation.last_message_at
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    ConversationEvent.objects.create(
        conversation=conversation, seq=seq, type=event_type, message=message,
        payload={**(payload or {}), **({"thread_root": thread_root.pk} if thread_root else {})},
    )
    frame = event_frame(event_type, conversation.pk, seq, message=message,
                        thread_root=thread_root, payload=payload)
    layer_message = {"type": CONV_EVENT, "conversation": conversation.pk, "seq": seq,
                     "event": event_type, "text": encode(frame)}
    if event_type == "message.created":
        # Counted once committed, by the door it came in by.
        transaction.on_commit(partial(metrics.message_sent, requestid.origin.get()))
    subscribe = list(subscribe_users)
    unsubscribe = list(unsubscribe_users)
    if unsubscribe:
        layer_message["leaving"] = unsubscribe
    transaction.on_commit(
        lambda: broadcast_conversation_event(layer_message, subscribe, unsubscribe)
    )
    return frame


def broadcast_conversation_event(layer_message: dict[str, Any], subscribe: list[int],
                                 unsubscribe: list[int]) -> None:
    """Send to the conversation's subscribers, and to the sockets of people who start or
    stop following it with this event (they may not be subscribed yet, or any more)."""
    if layer_message["event"] == "message.created":
        # The delivery latency metric runs from here: the commit, not the transaction's start.
        layer_message = {**layer_message, "sent_at": time.time()}
    group_send(conversation_group(layer_message["conversation"]), layer_message)
    for user_id in subscribe or ():
        group_send(user_group(user_id), {**layer_message, "membership": "added"})
    for user_id in unsubscribe or ():
        group_send(user_group(user_id), {**layer_message, "membership": "removed"})


def user_event_on_commit(user_id: int, frame: dict[str, Any]) -> None:
    """Send a frame to every socket of one person once the transaction commits."""
    text = encode(frame)
    transaction.on_commit(
        lambda: group_send(user_group(user_id), {"type": USER_EVENT, "text": text})
    )


def broadcast_user_deactivated(user_id: int) -> None:
    """Tell every open socket of a deactivated person to close."""
    group_send(user_group(user_id), {"type": USER_DEACTIVATED, "user": user_id})
