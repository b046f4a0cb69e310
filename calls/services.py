"""Every write of calls, one function per action (docs/realtime.md, "Calls").

Each locks the call row first (selectors.call_get_for_user(lock=True)), so the answers,
hang-ups and ring timeouts of one call, arriving at different daphne processes, apply
one at a time. Frames go out after commit (calls.events). When a call ends, a message
announcing it is posted to its conversation through messaging's message_create, so it
gets its seq and reaches every member like any message.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import presence
from accounts.models import User
from calls import events, selectors
from calls.models import (
    CallEndReason,
    CallMedia,
    CallParticipant,
    CallRecord,
    CallState,
    ParticipantState,
)
from core.errors import Conflict, Forbidden, InvalidInput, NotFound, TeamchatError
from messaging import permissions
from messaging import selectors as messaging_selectors
from messaging.models import Conversation, Membership

logger = logging.getLogger(__name__)

MAX_SDP_CHARS = 48 * 1024
MAX_CANDIDATE_CHARS = 1024
DESCRIPTION_TYPES = {"offer", "answer", "pranswer", "rollback"}


@dataclass(frozen=True)
class Relay:
    """A signalling frame to pass to one socket of one person."""

    user_id: int
    message: dict[str, Any]


# --- Starting, answering, ending ---------------------------------------------------------


def call_start(*, actor: User, conversation_id: Any, media: Any, connection: str,
               invite: Any = None) -> CallRecord:
    """Ring the other members of a conversation (or those in `invite`). The caller is in
    the call from the start, on the socket `connection`."""
    if media not in CallMedia.values:
        raise InvalidInput.for_field("media", "Either 'audio' or 'video'.")
    conversation = _require_can_call(actor, conversation_id)
    members = list(User.objects.filter(memberships__conversation=conversation, is_active=True,
                                       is_bot=False).exclude(pk=actor.pk).order_by("pk"))
    if invite is not None:
        if not isinstance(invite, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in invite):
            raise InvalidInput.for_field("invite", "A list of user ids.")
        by_id = {user.pk: user for user in members}
        if not set(invite) <= set(by_id):
            raise InvalidInput.for_field("invite", "Invite members of this conversation only.")
        members = [by_id[i] for i in sorted(set(invite))]
    if not members:
        raise InvalidInput("There is nobody else in this conversation to call.",
                           code="nobody_to_call")
    limit = settings.CALL_MAX_PARTICIPANTS
    if len(members) + 1 > limit:
        raise Forbidden(f"A call connects at most {limit} people and this one would ring "
                        f"{len(members) + 1}. Invite fewer people.",
                        code="too_many_participants")
    _expire_overdue(conversation_id=conversation.pk)
    _end_abandoned(conversation_id=conversation.pk, user_ids=[actor.pk, *(m.pk for m in members)])
    if selectors.live_calls_of(user=actor).exists():
        raise Conflict("You are already in a call.", code="busy")
    busy = {p.user_id for p in CallParticipant.objects.filter(
        user__in=members, state=ParticipantState.JOINED,
        call__state__in=[CallState.RINGING, CallState.ACTIVE]) if _connected(p)}
    now = timezone.now()
    try:
        with transaction.atomic():
            call = CallRecord.objects.create(
                conversation=conversation, started_by=actor, media=media, started_at=now,
                ring_deadline=now + timedelta(seconds=settings.CALL_RING_TIMEOUT_SECONDS))
            CallParticipant.objects.create(call=call, user=actor, state=ParticipantState.JOINED,
                                           connection=connection, joined_at=now,
                                           video=media == CallMedia.VIDEO)
            CallParticipant.objects.bulk_create(
                CallParticipant(call=call, user=user, video=media == CallMedia.VIDEO,
                                state=ParticipantState.BUSY if user.pk in busy
                                else ParticipantState.RINGING)
                for user in members)
            participants = selectors.call_participants(call=call)
            payload = events.call_payload(call, participants)
            ring_until = call.ring_deadline.timestamp()
            events.send_on_commit(actor.pk, {"type": "call.started", "call": payload},
                                  connection=connection, ring_until=ring_until)
            for participant in participants:
                if participant.state == ParticipantState.RINGING:
                    events.send_on_commit(participant.user_id, {"type": "call.ring",
                                                                "call": payload},
                                          ring_until=ring_until)
            _settle(call, participants)
    except IntegrityError:
        raise Conflict("A call is already going on in this conversation; join it instead.",
                       code="call_in_progress") from None
    return call


def call_accept(*, actor: User, call_id: Any, connection: str) -> CallRecord:
    """Answer a ringing call, or join one going on in a conversation of one's own (rung
    for it or not, again after leaving), on the socket `connection`."""
    _expire_overdue(call_id=call_id)
    _end_abandoned(user_ids=[actor.pk])
    with transaction.atomic():
        call = selectors.call_get_for_user(user=actor, call_id=call_id, lock=True, joinable=True)
        _require_live(call)
        participants = selectors.call_participants(call=call)
        # Rung or not, one may still have to be able to take part (the conversation may
        # have been archived, or one removed from posting, since it rang).
        _require_can_call(actor, call.conversation_id)
        # Not rung (me is None): joining a call going on, which the selector made sure of.
        me = next((p for p in participants if p.user_id == actor.pk), None)
        if me is not None and me.state == ParticipantState.JOINED:
            raise Conflict("You are already in this call (in another window?).",
                           code="already_joined")
        if me is not None and me.state != ParticipantState.RINGING and call.state != CallState.ACTIVE:
            raise Conflict("This call is no longer ringing for you.", code="not_ringing")
        if selectors.live_calls_of(user=actor).exclude(call=call).exists():
            raise Conflict("Hang up your other call first.", code="busy")
        joined = [p for p in participants if p.state == ParticipantState.JOINED]
        if len(joined) >= settings.CALL_MAX_PARTICIPANTS:
            raise Forbidden(f"This call is full: it connects at most "
                            f"{settings.CALL_MAX_PARTICIPANTS} people.", code="call_full")
        now = timezone.now()
        was_ringing = me is not None and me.state == ParticipantState.RINGING
        if me is None:
            me = CallParticipant.objects.create(
                call=call, user=actor, state=ParticipantState.JOINED, connection=connection,
                joined_at=now, video=call.media == CallMedia.VIDEO)
            participants.append(me)
        else:
            me.state, me.connection, me.joined_at, me.left_at, me.dropped = (
                ParticipantState.JOINED, connection, me.joined_at or now, None, False)
            me.save(update_fields=["state", "connection", "joined_at", "left_at", "dropped"])
        if call.state == CallState.RINGING:
            call.state, call.connected_at = CallState.ACTIVE, now
            call.save(update_fields=["state", "connected_at"])
        payload = events.call_payload(call, participants)
        events.send_on_commit(actor.pk, {"type": "call.accepted", "call": payload},
                              connection=connection)
        if was_ringing:
            events.send_on_commit(actor.pk, {"type": "call.ring_stopped", "call": call.pk,
                                             "reason": "answered_elsewhere"},
                                  except_connection=connection)
        events.to_joined(participants, _participant_frame(call, me), skip_user=actor.pk)
        events.status_on_commit(call, participants)
    return call


def call_decline(*, actor: User, call_id: Any) -> CallRecord:
    with transaction.atomic():
        call = selectors.call_get_for_user(user=actor, call_id=call_id, lock=True)
        _require_live(call)
        participants = selectors.call_participants(call=call)
        me = _participant(participants, actor)
        if me.state != ParticipantState.RINGING:
            raise Conflict("This call is not ringing for you.", code="not_ringing")
        me.state = ParticipantState.DECLINED
        me.save(update_fields=["state"])
        if not _settle(call, participants):
            events.send_on_commit(actor.pk, {"type": "call.ring_stopped", "call": call.pk,
                                             "reason": "declined"})
            events.to_joined(participants, _participant_frame(call, me))
    return call


def call_cancel(*, actor: User, call_id: Any) -> CallRecord:
    """The caller hangs up before anyone answered."""
    with transaction.atomic():
        call = selectors.call_get_for_user(user=actor, call_id=call_id, lock=True)
        _require_live(call)
        if call.started_by_id != actor.pk:
            raise Forbidden("Only the caller can cancel a call; decline it instead.",
                            code="forbidden")
        if call.state != CallState.RINGING:
            raise Conflict("Someone answered already; leave the call instead.",
                           code="not_ringing")
        participants = selectors.call_participants(call=call)
        _end(call, participants, CallEndReason.CANCELLED,
             f"{_name(actor)} cancelled the call.")
    return call


def call_leave(*, actor: User, call_id: Any, connection: str = "",
               dropped: bool = False) -> CallRecord:
    """Hang up. `dropped`: the socket that was in the call went away without hanging up."""
    with transaction.atomic():
        call = selectors.call_get_for_user(user=actor, call_id=call_id, lock=True)
        _require_live(call)
        participants = selectors.call_participants(call=call)
        me = _participant(participants, actor)
        if me.state != ParticipantState.JOINED or (connection and me.connection != connection):
            raise Conflict("You are not in this call.", code="not_in_call")
        me.state, me.left_at, me.dropped = ParticipantState.LEFT, timezone.now(), dropped
        me.save(update_fields=["state", "left_at", "dropped"])
        if not _settle(call, participants, dropped=me if dropped else None):
            events.to_joined(participants, _participant_frame(call, me))
            events.status_on_commit(call, participants)
    return call


def call_connection_closed(*, user: User, connection: str) -> None:
    """A socket closed: if it was in a call, its person drops out of it."""
    for call_id in CallParticipant.objects.filter(
            user=user, connection=connection, state=ParticipantState.JOINED).values_list(
            "call_id", flat=True):
        # The call may have ended or moved on meanwhile.
        with contextlib.suppress(Conflict, NotFound):
            call_leave(actor=user, call_id=call_id, connection=connection, dropped=True)


def call_ring_expire(*, call_id: int) -> None:
    """Stop ringing whoever has not answered once the ring deadline passed. Every socket
    that rang asks for this at the deadline; the first one does it, the others find
    nothing left to do."""
    if not CallRecord.objects.filter(pk=call_id).exclude(state=CallState.ENDED).exists():
        return  # the usual case: the call ended before its ring would have
    with transaction.atomic():
        call = CallRecord.objects.select_for_update().filter(pk=call_id).first()
        if call is None or call.state == CallState.ENDED or timezone.now() < call.ring_deadline:
            return
        participants = selectors.call_participants(call=call)
        unanswered = [p for p in participants if p.state == ParticipantState.RINGING]
        for participant in unanswered:
            participant.state = ParticipantState.MISSED
            participant.save(update_fields=["state"])
        if not _settle(call, participants):
            for participant in unanswered:
                events.send_on_commit(participant.user_id, {
                    "type": "call.ring_stopped", "call": call.pk, "reason": "missed"})
                events.to_joined(participants, _participant_frame(call, participant))


def _expire_overdue(*, call_id: Any = None, conversation_id: int | None = None) -> None:
    """Apply a ring timeout whose timer did not fire (every socket that rang went away)."""
    now = timezone.now()
    overdue = CallRecord.objects.exclude(state=CallState.ENDED).filter(
        ring_deadline__lt=now, participants__state=ParticipantState.RINGING)
    if call_id is not None:
        if not str(call_id).isdigit():
            return
        overdue = overdue.filter(pk=int(call_id))
    if conversation_id is not None:
        overdue = overdue.filter(conversation_id=conversation_id)
    for overdue_id in set(overdue.values_list("pk", flat=True)):
        call_ring_expire(call_id=overdue_id)


def _connected(participant: CallParticipant) -> bool:
    """Whether the socket that answered for this participant is still open."""
    return participant.connection in presence.live_connections(
        [participant.user_id]).get(participant.user_id, set())


def _end_abandoned(*, conversation_id: int | None = None, user_ids: list[int]) -> None:
    """End the live calls (of a conversation, or with these people in them) that nobody
    in them is connected to any more: their server process went away without hanging up
    for them. Otherwise such a call would block its conversation and keep its people busy
    for good. Presence forgets a connection CONNECTION_TTL after its last heartbeat."""
    live = CallRecord.objects.exclude(state=CallState.ENDED)
    candidates: set[int] = set()
    if conversation_id is not None:
        candidates |= set(live.filter(conversation_id=conversation_id).values_list("pk", flat=True))
    candidates |= set(live.filter(participants__user_id__in=user_ids,
                                  participants__state=ParticipantState.JOINED)
                      .values_list("pk", flat=True))
    for call_id in sorted(candidates):
        with transaction.atomic():
            call = CallRecord.objects.select_for_update().filter(pk=call_id).first()
            if call is None or call.state == CallState.ENDED:
                continue
            participants = selectors.call_participants(call=call)
            joined = [p for p in participants if p.state == ParticipantState.JOINED]
            if any(_connected(p) for p in joined):
                continue
            for participant in joined:
                participant.dropped = True
                participant.save(update_fields=["dropped"])
            _end(call, participants, CallEndReason.DROPPED,
                 "The call was lost: nobody in it is connected any more.")


# --- In the call -------------------------------------------------------------------------


def call_media_set(*, actor: User, call_id: Any, connection: str, audio: Any = None,
                   video: Any = None, screen: Any = None) -> CallParticipant:
    """Mute and unmute, camera and screen sharing on and off, as the others should show it."""
    changes = {name: value for name, value in (("audio", audio), ("video", video),
                                               ("screen", screen)) if value is not None}
    if not changes:
        raise InvalidInput("Say which of 'audio', 'video' and 'screen' changed.",
                           fields={"audio": ["true or false"]})
    for name, value in changes.items():
        if not isinstance(value, bool):
            raise InvalidInput.for_field(name, "true or false.")
    with transaction.atomic():
        call = selectors.call_get_for_user(user=actor, call_id=call_id, lock=True)
        _require_live(call)
        participants = selectors.call_participants(call=call)
        me = _joined_here(participants, actor, connection)
        for name, value in changes.items():
            setattr(me, name, value)
        me.save(update_fields=list(changes))
        events.to_joined(participants, {"type": "call.media", "call": call.pk, "user": actor.pk,
                                        "audio": me.audio, "video": me.video,
                                        "screen": me.screen}, skip_user=actor.pk)
    return me


def call_signal(*, actor: User, call_id: Any, connection: str, to: Any,
                description: Any = None, candidate: Any = None) -> Relay:
    """Check a WebRTC offer, answer or ICE candidate and say where it goes: from the socket
    in the call to the socket in the call of `to`. Nothing is stored."""
    cleaned = {"description": _clean_description(description)} if description is not None \
        else {"candidate": _clean_candidate(candidate)} if candidate is not None else None
    if cleaned is None or (description is not None and candidate is not None):
        raise InvalidInput("Send either a 'description' or a 'candidate'.",
                           fields={"description": ["Either this or 'candidate'."]})
    if not isinstance(to, int) or isinstance(to, bool):
        raise InvalidInput.for_field("to", "A user id.")
    call = selectors.call_get_for_user(user=actor, call_id=call_id)
    _require_live(call)
    participants = list(call.participants.filter(state=ParticipantState.JOINED))
    _joined_here(participants, actor, connection)
    target = next((p for p in participants if p.user_id == to and to != actor.pk), None)
    if target is None:
        raise NotFound("That person is not in this call.", code="not_in_call")
    frame = {"type": "call.signal", "call": call.pk, "from": actor.pk, **cleaned}
    return Relay(user_id=target.user_id, message=events.relay_message(frame, target.connection))


def _clean_description(value: Any) -> dict[str, str]:
    if (not isinstance(value, dict) or value.get("type") not in DESCRIPTION_TYPES
            or not isinstance(value.get("sdp", ""), str)
            or len(value.get("sdp", "")) > MAX_SDP_CHARS):
        raise InvalidInput.for_field("description", "A session description {type, sdp}.")
    return {"type": value["type"], "sdp": value.get("sdp", "")}


def _clean_candidate(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("candidate"), str) \
            or len(value["candidate"]) > MAX_CANDIDATE_CHARS:
        raise InvalidInput.for_field("candidate", "An ICE candidate {candidate, sdpMid, "
                                                  "sdpMLineIndex}.")
    mid, index = value.get("sdpMid"), value.get("sdpMLineIndex")
    if not (mid is None or (isinstance(mid, str) and len(mid) <= 64)) or not (
            index is None or (isinstance(index, int) and not isinstance(index, bool))):
        raise InvalidInput.for_field("candidate", "sdpMid is text, sdpMLineIndex a number.")
    cleaned = {"candidate": value["candidate"], "sdpMid": mid, "sdpMLineIndex": index}
    if isinstance(value.get("usernameFragment"), str):
        cleaned["usernameFragment"] = value["usernameFragment"][:256]
    return cleaned


# --- The state machine -------------------------------------------------------------------


def _require_live(call: CallRecord) -> None:
    if call.state == CallState.ENDED:
        raise Conflict("This call has ended.", code="call_ended")


def _require_can_call(actor: User, conversation_id: Any) -> Conversation:
    """The conversation, if the person may call or join calls in it: a member who may post
    there, and not a bot."""
    conversation, membership = messaging_selectors.conversation_get_for_user(
        user=actor, conversation_id=conversation_id)
    permissions.require_participate(actor, conversation, membership)
    if actor.is_bot:
        raise Forbidden("Bots cannot take part in calls.", code="forbidden")
    return conversation


def _participant(participants: list[CallParticipant], user: User) -> CallParticipant:
    for participant in participants:
        if participant.user_id == user.pk:
            return participant
    raise NotFound("No such call.")


def _joined_here(participants: list[CallParticipant], user: User,
                 connection: str) -> CallParticipant:
    for participant in participants:
        if (participant.user_id == user.pk and participant.state == ParticipantState.JOINED
                and participant.connection == connection):
            return participant
    raise Forbidden("Join the call (from this window) first.", code="not_in_call")


def _name(user: User | None) -> str:
    return user.display_name if user is not None else "Someone"


def _names(participants: list[CallParticipant]) -> str:
    names = [_name(p.user) for p in participants]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _participant_frame(call: CallRecord, participant: CallParticipant) -> dict[str, Any]:
    return {"type": "call.participant", "call": call.pk,
            "participant": events.participant_payload(participant),
            **({"dropped": True} if participant.dropped else {})}


def _settle(call: CallRecord, participants: list[CallParticipant], *,
            dropped: CallParticipant | None = None) -> bool:
    """End the call if what just happened leaves nothing to wait for. True if it ended."""
    ringing = [p for p in participants if p.state == ParticipantState.RINGING]
    joined = [p for p in participants if p.state == ParticipantState.JOINED]
    if call.state == CallState.RINGING:
        if not any(p.user_id == call.started_by_id for p in joined):
            if dropped is not None:
                _end(call, participants, CallEndReason.DROPPED,
                     f"{_name(dropped.user)}'s connection was lost.")
            else:
                _end(call, participants, CallEndReason.CANCELLED,
                     f"{_name(call.started_by)} cancelled the call.")
            return True
        if ringing:
            return False
        declined = [p for p in participants if p.state == ParticipantState.DECLINED]
        busy = [p for p in participants if p.state == ParticipantState.BUSY]
        if declined:
            _end(call, participants, CallEndReason.DECLINED, f"{_names(declined)} declined the call.")
        elif busy:
            _end(call, participants, CallEndReason.BUSY,
                 f"{_names(busy)} {'is' if len(busy) == 1 else 'are'} busy in another call.")
        else:
            _end(call, participants, CallEndReason.MISSED, "No answer.")
        return True
    if not joined or (len(joined) == 1 and not ringing):
        if dropped is not None:
            _end(call, participants, CallEndReason.DROPPED,
                 f"{_name(dropped.user)}'s connection was lost.")
        else:
            _end(call, participants, CallEndReason.COMPLETED, "The call ended.")
        return True
    return False


def _end(call: CallRecord, participants: list[CallParticipant], reason: str, detail: str) -> None:
    now = timezone.now()
    call.state, call.ended_at, call.end_reason = CallState.ENDED, now, reason
    call.save(update_fields=["state", "ended_at", "end_reason"])
    for participant in participants:
        if participant.state in (ParticipantState.RINGING, ParticipantState.JOINED):
            if participant.state == ParticipantState.JOINED:
                participant.left_at = now
            participant.state = (ParticipantState.MISSED if participant.state
                                 == ParticipantState.RINGING else ParticipantState.LEFT)
            participant.save(update_fields=["state", "left_at"])
    frame = {"type": "call.ended", "call": call.pk, "conversation": call.conversation_id,
             "reason": reason, "detail": detail, "duration_seconds": call.duration_seconds}
    for participant in participants:
        events.send_on_commit(participant.user_id, frame)
    events.status_on_commit(call, participants)
    call_id = call.pk
    transaction.on_commit(lambda: call_record_post(call_id=call_id), robust=True)


# --- The record in the conversation ------------------------------------------------------


def call_record_post(*, call_id: int) -> None:
    """Announce an ended call in its conversation, as a message from the caller (once:
    the message's client_msg_id is the call's). Not where the server may write no text (end-
    to-end encrypted conversations): there the call is in the conversation's call list only."""
    from messaging.encryption import accepts_plain_text
    from messaging.services import message_create

    call = CallRecord.objects.select_related("started_by", "conversation").filter(pk=call_id).first()
    if call is None or call.state != CallState.ENDED or call.message_id or call.started_by is None:
        return
    if not accepts_plain_text(call.conversation):
        return
    participants = selectors.call_participants(call=call)
    if not Membership.objects.filter(user=call.started_by,
                                     conversation_id=call.conversation_id).exists():
        return  # the caller left the conversation meanwhile
    try:
        message = message_create(author=call.started_by, conversation_id=call.conversation_id,
                                 text=call_record_text(call, participants),
                                 client_msg_id=f"call:{call.pk}").message
    except TeamchatError as error:
        logger.warning("could not post the record of call %s: %s", call.pk, error.detail)
        return
    CallRecord.objects.filter(pk=call.pk).update(message=message)


def _escape(text: str) -> str:
    """Names as plain text in Markdown (no emphasis, links or mentions)."""
    return "".join("\\" + c if c in "\\`*_{}[]()<>#+!|~@" else c for c in text)


def _duration(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def call_record_text(call: CallRecord, participants: list[CallParticipant]) -> str:
    icon, kind = ("📹", "video call") if call.media == CallMedia.VIDEO else ("📞", "audio call")
    caller = _escape(_name(call.started_by))

    def names(people: list[CallParticipant]) -> str:
        return _escape(_names(people))

    if call.connected_at is not None:
        took_part = [p for p in participants if p.joined_at is not None]
        return (f"{icon} {kind.capitalize()} with {names(took_part)} · lasted "
                f"{_duration(call.duration_seconds or 0)}")
    by_state = {state: [p for p in participants if p.state == state] for state in
                (ParticipantState.DECLINED, ParticipantState.BUSY)}
    if call.end_reason == CallEndReason.DECLINED:
        return f"{icon} {kind.capitalize()} from {caller} · declined by {names(by_state['declined'])}"
    if call.end_reason == CallEndReason.BUSY:
        busy = by_state["busy"]
        return (f"{icon} {kind.capitalize()} from {caller} · {names(busy)} "
                f"{'was' if len(busy) == 1 else 'were'} busy")
    if call.end_reason == CallEndReason.CANCELLED:
        return f"{icon} {kind.capitalize()} from {caller} · cancelled"
    if call.end_reason == CallEndReason.DROPPED:
        return f"{icon} {kind.capitalize()} from {caller} · the connection was lost"
    return f"{icon} Missed {kind} from {caller} · no answer"
