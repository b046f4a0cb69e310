"""The Activity view's writes (issue 28): telling a person, live, that something happened
to them (`activity.new`), and marking the view seen (`activity.seen`)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.live import user_event_on_commit, users_event_on_commit
from messaging.models import ActivityState, Message


def activity_tell(*, user_ids: Iterable[int], kind: str, message: Message, actor_id: int) -> None:
    """Once the transaction commits, tell these people (each on all their sockets) that
    `actor_id` mentioned them in, replied with, or reacted to `message`: those of them,
    but the actor, who may still see its conversation."""
    from messaging.selectors import viewers_among

    targets = set(user_ids) - {actor_id}
    if targets:
        targets = viewers_among(conversation=message.conversation, user_ids=targets)
    users_event_on_commit(targets, {"type": "activity.new", "kind": kind, "message": message.pk,
                                    "conversation": message.conversation_id, "user": actor_id})


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
