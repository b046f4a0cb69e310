"""Reads of calls, each filtered by who may see them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import User
from calls.models import CallParticipant, CallRecord, CallState, ParticipantState
from core.errors import NotFound
from messaging.models import Membership


def call_get_for_user(*, user: User, call_id: Any, lock: bool = False,
                      joinable: bool = False) -> CallRecord:
    """A call the person was rung for (or started), in a conversation they still belong
    to; with `joinable`, also a call going on in one of their conversations that they were
    not rung for. With `lock`, the call row is locked (call inside atomic()): every write
    to a call and its participants holds that lock, so they happen one at a time."""
    try:
        call_id = int(call_id)
    except (TypeError, ValueError):
        raise NotFound("No such call.") from None
    calls = CallRecord.objects.select_related("started_by")
    if lock:
        calls = calls.select_for_update(of=("self",))
    call = calls.filter(pk=call_id).first()
    if call is None or not Membership.objects.filter(user=user,
                                                     conversation_id=call.conversation_id).exists():
        raise NotFound("No such call.")
    rung = call.participants.filter(user=user).exists()
    if not rung and not (joinable and call.state == CallState.ACTIVE):
        raise NotFound("No such call.")
    return call


def call_participants(*, call: CallRecord) -> list[CallParticipant]:
    return list(call.participants.select_related("user").order_by("pk"))


def live_calls_of(*, user: User) -> QuerySet[CallParticipant]:
    """The calls a person is in right now (answered, not ended)."""
    return CallParticipant.objects.filter(
        user=user, state=ParticipantState.JOINED,
        call__state__in=[CallState.RINGING, CallState.ACTIVE])


def call_list(*, user: User, conversation_id: int) -> QuerySet[CallRecord]:
    """The calls of a conversation the person belongs to, newest first."""
    if not Membership.objects.filter(user=user, conversation_id=conversation_id).exists():
        return CallRecord.objects.none()
    return CallRecord.objects.filter(conversation_id=conversation_id).order_by("-started_at")


def turn_credentials(*, user: User, now: float | None = None) -> tuple[str, str]:
    """coturn's use-auth-secret (the "TURN REST API"): the username is the expiry time and
    the person's id, the password the base64 HMAC-SHA1 of the username under the shared
    secret. coturn checks both without asking us, and refuses them once expired."""
    expiry = int(now if now is not None else time.time()) + settings.CALL_TURN_TTL_SECONDS
    username = f"{expiry}:{user.pk}"
    digest = hmac.new(settings.CALL_TURN_SECRET.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(*, user: User) -> dict[str, Any]:
    """What a browser needs to set up its peer connections."""
    servers: list[dict[str, Any]] = []
    if settings.CALL_STUN_URLS:
        servers.append({"urls": list(settings.CALL_STUN_URLS)})
    if settings.CALL_TURN_URLS and settings.CALL_TURN_SECRET:
        username, credential = turn_credentials(user=user)
        servers.append({"urls": list(settings.CALL_TURN_URLS), "username": username,
                        "credential": credential})
    return {"ice_servers": servers, "ttl_seconds": settings.CALL_TURN_TTL_SECONDS,
            "max_participants": settings.CALL_MAX_PARTICIPANTS,
            "ring_seconds": settings.CALL_RING_TIMEOUT_SECONDS}
