"""The Activity view's writes (issue 28): telling a person, live, that something happened
to them (`activity.new`), and marking the view seen (`activity.seen`)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.live import USER_EVENT, encode, group_send, user_event_on_commit, user_group
from messaging.models import ActivityState, Conversation, ConversationKind, Membership, Message


def activity_tell(*, user_ids: Iterable[int], kind: str, message: Message, actor_id: int) -> None:
    """Once the transaction commits, tell these people (each on all their sockets) that
    `actor_id` mentioned them in, replied with, or reacted to `message`. Call only with
    people who may see the message."""
    targets = sorted(set(user_ids) - {actor_id})
    if not targets:
        return
    text = encode({"type": "activity.new", "kind": kind, "message": message.pk,
                   "conversation": message.conversation_id, "user": actor_id})

    def send() -> None:
        for user_id in targets:
            group_send(user_group(user_id), {"type": USER_EVENT, "text": text})

    transaction.on_commit(send)


def may_see(user_id: int, conversation: Conversation) -> bool:
    """Whether this person may still see the conversation (a member; or, in a public
    channel, anyone but a guest or a bot), in one query."""
    if Membership.objects.filter(user_id=user_id, conversation_id=conversation.pk).exists():
        return True
    return (conversation.kind == ConversationKind.PUBLIC and User.objects.filter(
        pk=user_id, is_active=True, is_bot=False).exclude(role="guest").exists())


def activity_seen(*, actor: User) -> ActivityState:
    """The person looked at their Activity view: reactions until now are read. Their
    other browsers follow (`activity.seen`)."""
    now = timezone.now()
    with transaction.atomic():
        state, _ = ActivityState.objects.update_or_create(user=actor,
                                                          defaults={"reactions_seen_at": now})
        user_event_on_commit(actor.pk, {"type": "activity.seen",
                                        "seen_at": now.isoformat().replace("+00:00", "Z")})
    return state
