"""The live side of the bus: channel-layer group names, the layer message types the
realtime consumer handles, and sends to those groups.

Every app tells sockets of a change through here (after its transaction commits), so no
app imports another's event module for it. Group names are built from ids only:
`conv.<id>` for a conversation's subscribers, `user.<id>` for every socket of one person,
`presence.<id>` for the sockets watching one person's presence. Layer messages carry the
frame already encoded as JSON text, so a fan-out to hundreds of sockets encodes it once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

# Layer message types, handled by realtime.consumer.RealtimeConsumer.
CONV_EVENT = "conv.event"
USER_EVENT = "user.event"
USER_DEACTIVATED = "user.deactivated"
SESSION_ENDED = "session.ended"
SESSION_REKEYED = "session.rekeyed"
# Something that decides whether a person may keep streaming changed (role, password,
# token, two-factor policy): each of their sockets checks its access again now.
ACCESS_CHANGED = "access.changed"
TYPING_EVENT = "typing.event"
PRESENCE_EVENT = "presence.event"


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


def group_send_many(sends: list[tuple[str, dict[str, Any]]]) -> None:
    """Several sends, in this order, in one hop to the event loop. Each group_send from
    sync code starts an event loop and, on Redis, a connection: a few milliseconds that a
    conversation created with hundreds of members paid once per member."""
    layer = get_channel_layer()
    if layer is None or not sends:
        return

    async def send_all() -> None:
        for group, message in sends:
            await layer.group_send(group, message)

    async_to_sync(send_all)()


def user_event_on_commit(user_id: int, frame: dict[str, Any]) -> None:
    """Send a frame to every socket of one person once the transaction commits."""
    users_event_on_commit([user_id], frame)


def users_event_on_commit(user_ids: Iterable[int], frame: dict[str, Any]) -> None:
    """Send one frame (encoded once) to every socket of each of these people once the
    transaction commits (at once, outside a transaction)."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    message = {"type": USER_EVENT, "text": encode(frame)}

    def send() -> None:
        for user_id in ids:
            group_send(user_group(user_id), message)

    transaction.on_commit(send)


def user_deactivated_broadcast(user_id: int) -> None:
    """Tell every open socket of a deactivated person to close."""
    group_send(user_group(user_id), {"type": USER_DEACTIVATED, "user": user_id})


def access_changed_on_commit(user_ids: list[int]) -> None:
    """Once the transaction commits, have every socket of these people check again that
    it may keep streaming (realtime.consumer closes those that may not)."""
    ids = list(user_ids)

    def tell() -> None:
        for user_id in ids:
            group_send(user_group(user_id), {"type": ACCESS_CHANGED})

    if ids:
        transaction.on_commit(tell)
