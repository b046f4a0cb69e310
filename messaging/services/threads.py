"""Following threads (issue 28): who follows a thread, where each has read it to, and the
`thread.updated` frames that keep every browser's Threads view in step."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from core.errors import InvalidInput
from core.ids import row_id
from core.live import user_event_on_commit
from messaging.models import Message, ThreadFollow
from messaging.services.push import push_shown_thread_read, push_withdraw_on_commit
from messaging.services.receipts import receipts_tell


def threads_after_reply(*, root: Message, reply: Message, mentioned: Iterable[int]) -> None:
    """A reply was stored (inside its send's transaction): its author follows the thread
    and has read it to here; the thread's starter follows it unless they unfollowed; the
    people it mentions by name or group follow it again. Once it commits, every follower
    hears of it."""
    now = timezone.now()
    mentioned = set(mentioned) - {reply.author_id}
    starter = {root.author_id} - {reply.author_id}
    # Newcomers follow; a starter who unfollowed stays unfollowed.
    ThreadFollow.objects.bulk_create(
        [ThreadFollow(user_id=user_id, root=root, conversation_id=root.conversation_id,
                      updated_at=now) for user_id in sorted(mentioned | starter)],
        ignore_conflicts=True)
    ThreadFollow.objects.bulk_create(
        [ThreadFollow(user_id=reply.author_id, root=root, conversation_id=root.conversation_id,
                      last_read_reply_id=reply.pk, updated_at=now)],
        update_conflicts=True, unique_fields=["user", "root"],
        update_fields=["following", "last_read_reply_id", "updated_at"])
    # Every follower: the thread's newest activity and, for all but the reply's author,
    # its newest reply by someone else; and the people mentioned follow again.
    changes: dict[str, Any] = {
        "last_activity_at": now,
        "last_other_reply_id": Case(When(user_id=reply.author_id, then=F("last_other_reply_id")),
                                    default=Value(reply.pk)),
    }
    if mentioned:
        changes["following"] = Case(When(user_id__in=mentioned, then=Value(True)),
                                    default=F("following"))
    ThreadFollow.objects.filter(root=root).update(**changes)
    root_id = root.pk
    transaction.on_commit(lambda: thread_announce(root_id))


def threads_after_reply_deleted(*, root: Message) -> None:
    """A reply was deleted (inside the deletion's transaction): each follower's newest
    reply by someone else is found again, and once it commits they hear of it."""
    newest_other = (Message.objects.filter(thread_root_id=OuterRef("root_id"), deleted_at__isnull=True)
                    .filter(~Q(author_id=OuterRef("user_id"))).order_by("-id").values("id")[:1])
    ThreadFollow.objects.filter(root=root).update(
        last_other_reply_id=Coalesce(Subquery(newest_other), Value(0)))
    root_id = root.pk
    transaction.on_commit(lambda: thread_announce(root_id))


def thread_announce(root_id: int) -> None:
    """Tell every follower of a thread (each on all their sockets) its reply count and how
    many replies they have not read."""
    from messaging.selectors import thread_states

    for user_id, state in thread_states(root_id=root_id).items():
        user_event_on_commit(user_id, {"type": "thread.updated", **state})  # at once: committed


def thread_follow(*, actor: User, message_id: Any, following: Any) -> ThreadFollow:
    """Follow a thread by hand (any message that can start one), or unfollow it."""
    from messaging.selectors import message_get_for_user, thread_state

    if not isinstance(following, bool):
        raise InvalidInput.for_field("following", "Must be true or false.")
    root = message_get_for_user(user=actor, message_id=message_id)
    if root.thread_root_id is not None:
        raise InvalidInput.for_field("message", "Follow the thread's first message.")
    newest = _newest_reply_id(root.pk)
    with transaction.atomic():
        follow, created = ThreadFollow.objects.select_for_update().get_or_create(
            user=actor, root=root,
            defaults={"conversation_id": root.conversation_id, "following": following,
                      "last_read_reply_id": newest, "last_other_reply_id": newest,
                      "last_activity_at": root.last_reply_at or root.created_at})
        if not created and follow.following != following:
            follow.following = following
            follow.updated_at = timezone.now()
            follow.save(update_fields=["following", "updated_at"])
        user_event_on_commit(actor.pk, {"type": "thread.updated",
                                        **thread_state(user=actor, root=root, follow=follow)})
    return follow


def thread_read(*, actor: User, message_id: Any, reply_id: Any = None) -> ThreadFollow | None:
    """Mark a thread read, to its newest reply or to `reply_id` (never backward). Reading
    a thread one does not follow changes nothing and returns None."""
    from messaging.selectors import message_get_for_user, thread_state

    root = message_get_for_user(user=actor, message_id=message_id)
    if root.thread_root_id is not None:
        raise InvalidInput.for_field("message", "Give the thread's first message.")
    if reply_id in (None, ""):
        upto = _newest_reply_id(root.pk)
    else:
        upto = row_id(reply_id, InvalidInput.for_field("reply", "Must be a reply's id."))
        if not Message.objects.filter(pk=upto, thread_root_id=root.pk).exists():
            raise InvalidInput.for_field("reply", "No such reply in this thread.")
    with transaction.atomic():
        follow = ThreadFollow.objects.select_for_update().filter(user=actor, root=root).first()
        if follow is None:
            return None
        if upto > follow.last_read_reply_id:
            receipts_tell(reader=actor, conversation=root.conversation,
                          after=follow.last_read_reply_id, upto=upto, thread_root_id=root.pk)
            follow.last_read_reply_id = upto
            follow.save(update_fields=["last_read_reply_id"])
            if push_shown_thread_read(user_id=actor.pk, conversation_id=root.conversation_id,
                                      root_id=root.pk, upto=upto):
                push_withdraw_on_commit(actor.pk, root.conversation_id)
            user_event_on_commit(actor.pk, {"type": "thread.updated",
                                            **thread_state(user=actor, root=root, follow=follow)})
    return follow


def _newest_reply_id(root_id: int) -> int:
    return (Message.objects.filter(thread_root_id=root_id).order_by("-id")
            .values_list("pk", flat=True).first() or 0)
