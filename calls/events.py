"""Realtime plumbing of calls: frame builders and the sends to people's sockets.

Call frames go to the per-person groups (`user.<id>`, core.live.user_group) as
layer messages of type `call.event`. A message may name one `connection`: then only that
socket (the tab that answered the call) passes it on. Nothing here is stored: call
signalling is ephemeral (DESIGN.md, guarantee 5).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from calls.models import CallParticipant, CallRecord, CallState, ParticipantState
from core.live import conversation_group, encode, group_send, user_group
from messaging.payloads import iso

CALL_EVENT = "call.event"
CALL_STATUS = "call.status"


def person_payload(user: Any) -> dict[str, Any]:
    from accounts.api.serializers import UserSerializer

    if user is None:
        return {"id": None, "display_name": "Someone", "avatar_url": None}
    return {"id": user.pk, "display_name": user.display_name,
            "avatar_url": UserSerializer().get_avatar_url(user)}


def participant_payload(participant: CallParticipant) -> dict[str, Any]:
    return {"user": participant.user_id, "state": participant.state,
            "audio": participant.audio, "video": participant.video, "screen": participant.screen}


def call_payload(call: CallRecord, participants: list[CallParticipant]) -> dict[str, Any]:
    return {
        "id": call.pk,
        "conversation": call.conversation_id,
        "media": call.media,
        "state": call.state,
        "caller": person_payload(call.started_by),
        "started_at": iso(call.started_at),
        "ring_deadline": iso(call.ring_deadline),
        "connected_at": iso(call.connected_at),
        "participants": [participant_payload(p) for p in participants],
    }


def send_on_commit(user_id: int, frame: dict[str, Any], *, connection: str = "",
                   except_connection: str = "", ring_until: float | None = None) -> None:
    """Send a frame to a person's sockets (or to one of them) once the transaction
    commits. `ring_until` (a Unix time) asks each receiving socket to expire the ring then."""
    message: dict[str, Any] = {"type": CALL_EVENT, "text": encode(frame)}
    if connection:
        message["connection"] = connection
    if except_connection:
        message["except_connection"] = except_connection
    if ring_until is not None:
        message["call"] = frame["call"]["id"] if isinstance(frame["call"], dict) else frame["call"]
        message["ring_until"] = ring_until
    transaction.on_commit(lambda: group_send(user_group(user_id), message))


def relay_message(frame: dict[str, Any], connection: str) -> dict[str, Any]:
    """The layer message that carries a signalling frame to one socket."""
    return {"type": CALL_EVENT, "text": encode(frame), "connection": connection}


def to_joined(participants: list[CallParticipant], frame: dict[str, Any], *,
              skip_user: int | None = None) -> None:
    """Send a frame to the answering socket of everyone in the call (but `skip_user`)."""
    for participant in participants:
        if participant.state == ParticipantState.JOINED and participant.user_id != skip_user:
            send_on_commit(participant.user_id, frame, connection=participant.connection)


def status_on_commit(call: CallRecord, participants: list[CallParticipant]) -> None:
    """Tell the members of the call's conversation, once committed, that a call is going on
    there and who is in it, or that it is over: what their Join button shows. One frame
    to the conversation's group, passed on by members' sockets only."""
    joined = [] if call.state == CallState.ENDED else [
        p.user_id for p in participants if p.state == ParticipantState.JOINED]
    frame = {"type": "call.status", "conversation": call.conversation_id, "call": call.pk,
             "state": call.state, "media": call.media, "joined": joined}
    message = {"type": CALL_STATUS, "conversation": call.conversation_id, "text": encode(frame)}
    group = conversation_group(call.conversation_id)
    transaction.on_commit(lambda: group_send(group, message))
