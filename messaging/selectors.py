"""Reads of the messaging app. Every function takes the acting person and filters by
what they may see; `*_get_for_user` is the only way to load an object from a client's id.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import router
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from accounts.models import Role, User
from core.compiled import CompiledQuery
from core.errors import InvalidInput, NotFound
from core.hooks import Hook
from messaging import permissions
from messaging.models import (
    ActivityState,
    Conversation,
    ConversationEvent,
    ConversationKind,
    Draft,
    Membership,
    Mention,
    MentionKind,
    Message,
    MessageRevision,
    Pin,
    PushSubscription,
    Reaction,
    Reminder,
    ReminderState,
    SavedMessage,
    ScheduledMessage,
    ScheduledState,
    ThreadFollow,
    UserGroup,
)
from messaging.payloads import PayloadRelated, iso

MAX_PAGE = 100
DEFAULT_PAGE = 50


def _int_param(name: str, value: Any, *, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput.for_field(name, "Must be a whole number.") from None
    if number < minimum:
        raise InvalidInput.for_field(name, f"Must be at least {minimum}.")
    return number


# --- Conversations -----------------------------------------------------------------


# Compiled once (core/compiled.py): opening any conversation starts with these.
_MEMBERSHIP_FIELDS = tuple(field.attname for field in Membership._meta.concrete_fields)
_CONVERSATION_FIELDS = tuple(field.attname for field in Conversation._meta.concrete_fields)
_membership_with_conversation = CompiledQuery(
    Membership, lambda user_id, conversation_id: Membership.objects.filter(
        user_id=user_id, conversation_id=conversation_id).values_list(
        *_MEMBERSHIP_FIELDS, *(f"conversation__{name}" for name in _CONVERSATION_FIELDS))[:1],
    arity=2)
_conversation_by_id = CompiledQuery(Conversation, lambda pk: Conversation.objects.filter(pk=pk)[:1])


def conversation_get_for_user(*, user: User, conversation_id: Any) -> tuple[Conversation,
                                                                           Membership | None]:
    """The conversation and the person's membership (None if they are not a member)."""
    try:
        conversation_id = int(conversation_id)
    except (TypeError, ValueError):
        raise NotFound("No such conversation.") from None
    if not -(2**63) <= conversation_id < 2**63:
        raise NotFound("No such conversation.")  # past any id the database holds
    # A member (the usual case) costs one query: the membership with its conversation.
    membership = None
    for row in _membership_with_conversation.rows(user.pk, conversation_id):
        alias = router.db_for_read(Membership)
        membership = Membership.from_db(alias, _MEMBERSHIP_FIELDS, row[:len(_MEMBERSHIP_FIELDS)])
        membership.conversation = Conversation.from_db(alias, _CONVERSATION_FIELDS,
                                                       row[len(_MEMBERSHIP_FIELDS):])
    conversation = membership.conversation if membership else _conversation_by_id.first(
        conversation_id)
    if conversation is None:
        raise NotFound("No such conversation.")
    permissions.require_view(user, conversation, membership)
    return conversation, membership


def _unread_subquery() -> Subquery:
    visible = (
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            seq__gt=OuterRef("last_read_seq"),
            deleted_at__isnull=True,
        )
        .filter(Q(thread_root__isnull=True) | Q(also_in_channel=True))
        .exclude(author_id=OuterRef("user_id"))
        .order_by()
        .values("conversation_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    # Counted only where something came after the read position: most of a person's
    # conversations are read, and those cost no lookup at all.
    return Case(When(conversation__last_seq__gt=F("last_read_seq"),
                     then=Coalesce(Subquery(visible, output_field=IntegerField()), 0)),
                default=Value(0), output_field=IntegerField())


def _mention_subquery() -> Subquery:
    mentions = (
        Mention.objects.filter(
            user_id=OuterRef("user_id"),
            conversation_id=OuterRef("conversation_id"),
            seq__gt=OuterRef("last_read_seq"),
        )
        .order_by()
        .values("conversation_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Case(When(conversation__last_seq__gt=F("last_read_seq"),
                     then=Coalesce(Subquery(mentions, output_field=IntegerField()), 0)),
                default=Value(0), output_field=IntegerField())


@dataclass(slots=True)
class ListedConversation:
    """The columns of a conversation that `payloads.conversation_payload` reads."""
    pk: int
    kind: str
    name: str
    topic: str
    purpose: str
    created_by_id: int | None
    created_at: datetime
    archived_at: datetime | None
    last_seq: int
    last_message_at: datetime | None
    encrypted: bool
    is_default: bool


@dataclass(slots=True)
class ListedMembership:
    """One entry of the conversation list: the person's membership, its conversation, and
    what is unread there."""
    conversation: ListedConversation
    role: str
    last_read_message_id: int
    last_read_seq: int
    notification_level: str
    muted: bool
    starred: bool
    unread_count: int
    mention_count: int

    @property
    def conversation_id(self) -> int:
        return self.conversation.pk


_LISTED_COLUMNS = (
    *(f"conversation__{name}" for name in ("id", "kind", "name", "topic", "purpose", "created_by",
                                           "created_at", "archived_at", "last_seq",
                                           "last_message_at", "encrypted", "is_default")),
    "role", "last_read_message_id", "last_read_seq", "notification_level", "muted", "starred",
    "unread_count", "mention_count",
)
_CONVERSATION_COLUMNS = 12


def _membership_rows(user_id: int) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user_id=user_id)
        .annotate(unread_count=_unread_subquery(), mention_count=_mention_subquery())
        .order_by("-conversation__last_message_at", "-conversation_id")
        .values_list(*_LISTED_COLUMNS)
    )


# Compiled once: compiling its two correlated subqueries took 1.6 ms, a fifth of the call,
# and building a Membership and a Conversation for each of 500 rows took more than the
# query itself (docs/performance.md).
_membership_list_query = CompiledQuery(Membership, _membership_rows)


def membership_list(*, user: User) -> list[ListedMembership]:
    """The person's conversations with unread and mention counts, newest activity first,
    in one query and without model instances."""
    return [ListedMembership(ListedConversation(*row[:_CONVERSATION_COLUMNS]), *row[_CONVERSATION_COLUMNS:])
            for row in _membership_list_query.rows(user.pk)]


def last_read_conversation(*, user: User) -> int | None:
    """The conversation holding the newest message the person has read (ids grow with
    time): where a new device opens when it remembers nothing. None before any reading."""
    return (Membership.objects.filter(user_id=user.pk, last_read_message_id__gt=0,
                                      conversation__archived_at__isnull=True)
            .order_by("-last_read_message_id").values_list("conversation_id", flat=True).first())


# Compiled once (core/compiled.py): every read-position POST asks it, and building
# its two correlated subqueries cost more than running them.
_unread_count_query = CompiledQuery(
    Membership, lambda user_id, conversation_id: Membership.objects.filter(
        user_id=user_id, conversation_id=conversation_id)
    .annotate(unread_count=_unread_subquery(), mention_count=_mention_subquery())
    .values_list("unread_count", "mention_count")[:1], arity=2)


def unread_count(*, user: User, conversation_id: int) -> tuple[int, int]:
    """The person's unread messages and unread mentions in a conversation ((0, 0) where
    they are not a member)."""
    for unread, mentions in _unread_count_query.rows(user.pk, conversation_id):
        return unread, mentions
    return 0, 0


def direct_member_ids(*, conversation_ids: list[int]) -> dict[int, list[int]]:
    """Members of these conversations, by conversation (for direct conversations)."""
    members: dict[int, list[int]] = {cid: [] for cid in conversation_ids}
    for cid, uid in Membership.objects.filter(conversation_id__in=conversation_ids).order_by(
        "user_id"
    ).values_list("conversation_id", "user_id"):
        members[cid].append(uid)
    return members


def channel_directory(*, user: User, query: str = "", include_archived: bool = False
                      ) -> QuerySet[Conversation]:
    """Channels the person can find: public ones (not for guests or bots) and private ones
    they belong to, with member counts and whether they are in each."""
    mine = Membership.objects.filter(user=user).values("conversation_id")
    channels = Conversation.objects.exclude(kind=ConversationKind.DIRECT)
    if user.is_guest or user.is_bot:
        channels = channels.filter(pk__in=mine)
    else:
        channels = channels.filter(Q(kind=ConversationKind.PUBLIC) | Q(pk__in=mine))
    if not include_archived:
        channels = channels.filter(archived_at__isnull=True)
    query = (query or "").replace("\x00", "").strip().lstrip("#").lower()[:100]
    if query:
        channels = channels.filter(Q(name__icontains=query) | Q(topic__icontains=query)
                                   | Q(purpose__icontains=query))
    member_count = (
        Membership.objects.filter(conversation_id=OuterRef("pk")).order_by()
        .values("conversation_id").annotate(n=Count("id")).values("n")
    )
    return channels.annotate(
        member_count=Coalesce(Subquery(member_count, output_field=IntegerField()), 0),
        is_member=Q(pk__in=mine),
    ).order_by("name")


def member_list(*, user: User, conversation_id: Any) -> QuerySet[Membership]:
    conversation, _ = conversation_get_for_user(user=user, conversation_id=conversation_id)
    return Membership.objects.filter(conversation=conversation).select_related("user").order_by(
        "user__display_name", "user_id")


# --- Messages ----------------------------------------------------------------------


def _no_link_previews(message_ids: list[int]) -> dict[int, list[Any]]:
    return {}


# Link previews are fetched and stored by the integrations app, a floor above; it answers
# this in IntegrationsConfig.ready(): (ids of messages with links) -> {message id: previews}.
link_previews_of = Hook("messaging.link_previews_of", default=_no_link_previews)


def attach_payload_related(messages: list[Message]) -> None:
    """Give each message what its payload shows besides its columns (payloads.PayloadRelated):
    four queries for any number of messages (a fifth for link previews, when one has a
    link). Django's prefetch_related takes as many queries but builds a related queryset
    per message, which cost more than the queries on a page of 50."""
    if not messages:
        return
    ids = [message.pk for message in messages]
    reactions: dict[int, list] = {pk: [] for pk in ids}
    attachments: dict[int, list] = {pk: [] for pk in ids}
    previews: dict[int, list] = {pk: [] for pk in ids}
    for reaction in _reactions_of.all(ids):
        reactions[reaction.message_id].append(reaction)
    for attachment in _attachments_of().all(ids):
        attachments[attachment.message_id].append(attachment)
    pinned = {pin.message_id for pin in _pins_of.all(ids)}
    with_links = [message.pk for message in messages if message.has_link]
    if with_links:  # only a message with a link can have a preview
        for message_id, links in link_previews_of(with_links).items():
            previews[message_id].extend(links)
    for message in messages:
        message.payload_related = PayloadRelated(reactions[message.pk], attachments[message.pk],
                                                 previews[message.pk], message.pk in pinned)


# Compiled once for each length of list (core/compiled.py): Django built each of these
# anew for every page, in more time than the database took to answer.
_reactions_of = CompiledQuery(Reaction, lambda ids: Reaction.objects.filter(
    message_id__in=ids).order_by("created_at", "id"), listed=True)
_pins_of = CompiledQuery(Pin, lambda ids: Pin.objects.filter(message_id__in=ids), listed=True)


@functools.cache
def _attachments_of() -> CompiledQuery:
    # files imports messaging: its model is imported once both are loaded.
    from files.models import Attachment

    return CompiledQuery(Attachment, lambda ids: Attachment.objects.filter(
        message_id__in=ids).order_by("id"), listed=True)


def _channel_visible(conversation_id: int) -> QuerySet[Message]:
    """A conversation's messages shown in the channel: not thread replies kept to their
    thread."""
    return Message.objects.filter(conversation_id=conversation_id).filter(
        Q(thread_root__isnull=True) | Q(also_in_channel=True))


# A page's query by (direction, rows): each compiled once. The rows (a page and one more,
# to know whether there is more) are part of the SQL, so each size is a query of its own.
_PAGE_BUILDERS = {
    "newest": lambda rows: lambda c: _channel_visible(c).order_by("-id")[:rows],
    "before": lambda rows: lambda c, anchor: _channel_visible(c).filter(
        id__lt=anchor).order_by("-id")[:rows],
    "from": lambda rows: lambda c, anchor: _channel_visible(c).filter(
        id__gte=anchor).order_by("id")[:rows],
    "after": lambda rows: lambda c, anchor: _channel_visible(c).filter(
        id__gt=anchor).order_by("id")[:rows],
}


@functools.cache
def _page_query(direction: str, rows: int) -> CompiledQuery:
    return CompiledQuery(Message, _PAGE_BUILDERS[direction](rows),
                         arity=1 if direction == "newest" else 2)


def _page_rows(direction: str, rows: int, *ids: int) -> list[Message]:
    return _page_query(direction, rows).all(*ids)


@dataclass
class HistoryPage:
    messages: list[Message]
    has_older: bool
    has_newer: bool


def message_history(*, user: User, conversation_id: Any, before: Any = None, after: Any = None,
                    around: Any = None, limit: Any = None) -> HistoryPage:
    """A page of the channel-visible messages of a conversation, oldest first, by id:
    the newest page, or the page `before` / `after` a message, or the page `around` one."""
    conversation, _ = conversation_get_for_user(user=user, conversation_id=conversation_id)
    size = DEFAULT_PAGE if limit in (None, "") else _int_param("limit", limit)
    if size > MAX_PAGE:
        raise InvalidInput.for_field("limit", f"At most {MAX_PAGE}.")
    given = [name for name, value in (("before", before), ("after", after), ("around", around))
             if value not in (None, "")]
    if len(given) > 1:
        raise InvalidInput(f"Use only one of before, after and around (got {', '.join(given)}).",
                           fields={name: ["Use only one of before, after, around."]
                                   for name in given})
    if around not in (None, ""):
        anchor = _int_param("around", around)
        older_count = size // 2
        older = _page_rows("before", older_count + 1, conversation.pk, anchor)
        newer = _page_rows("from", size - older_count + 1, conversation.pk, anchor)
        has_older = len(older) > older_count
        has_newer = len(newer) > size - older_count
        page = HistoryPage(list(reversed(older[:older_count])) + newer[: size - older_count],
                           has_older, has_newer)
    elif after not in (None, ""):
        rows = _page_rows("after", size + 1, conversation.pk, _int_param("after", after, minimum=0))
        page = HistoryPage(rows[:size], True, len(rows) > size)
    elif before not in (None, ""):
        rows = _page_rows("before", size + 1, conversation.pk, _int_param("before", before))
        page = HistoryPage(list(reversed(rows[:size])), len(rows) > size, True)
    else:
        rows = _page_rows("newest", size + 1, conversation.pk)
        page = HistoryPage(list(reversed(rows[:size])), len(rows) > size, False)
    attach_payload_related(page.messages)
    return page


_messages_of = CompiledQuery(Message, lambda ids: Message.objects.filter(pk__in=ids), listed=True)


def messages_by_id(ids: list[int]) -> dict[int, Message]:
    """The messages of these ids (those that exist), with what their payload needs."""
    messages = _messages_of.all(ids)
    attach_payload_related(messages)
    return {message.pk: message for message in messages}


def message_get_for_user(*, user: User, message_id: Any) -> Message:
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        raise NotFound("No such message.") from None
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or not message_visible_to(user, message):
        raise NotFound("No such message.")
    return message


def people_sharing_a_conversation(viewer: User) -> QuerySet:
    """The ids of everyone in a conversation with this person, as a subquery (the guest
    directory of accounts.selectors asks it)."""
    return Membership.objects.filter(conversation__memberships__user=viewer).values("user_id")


def message_visible_to(user: User, message: Message) -> bool:
    """Whether the person may see this message (and its files: files.selectors asks)."""
    membership = Membership.objects.filter(user=user, conversation_id=message.conversation_id).first()
    return permissions.can_view(user, message.conversation, membership)


def member_reach_visible_to(viewer: User, member: User) -> bool:
    """Whether `viewer` may see every conversation `member` is in, so that nothing a
    credential of `member` reads (a bot's API token) is hidden from `viewer`.
    accounts.services asks it (its bot_reach_visible hook) before an admin mints a token
    for a bot."""
    theirs = Membership.objects.filter(user=member)
    if not viewer.is_active:
        return not theirs.exists()
    return not theirs.exclude(conversation_id__in=_visible_conversation_ids(viewer)).exists()


def message_replies(*, user: User, message_id: Any, after: Any = None, limit: Any = None
                    ) -> tuple[Message, list[Message], bool]:
    """A thread: its root and the replies after `after` (oldest first)."""
    root = message_get_for_user(user=user, message_id=message_id)
    if root.thread_root_id is not None:
        raise InvalidInput.for_field("message", "That message is a reply; open its root.")
    size = MAX_PAGE if limit in (None, "") else min(_int_param("limit", limit), MAX_PAGE)
    replies = Message.objects.filter(thread_root=root).order_by("id")
    if after not in (None, ""):
        replies = replies.filter(id__gt=_int_param("after", after, minimum=0))
    rows = list(replies[: size + 1])
    attach_payload_related(rows[:size])
    return root, rows[:size], len(rows) > size


def message_revisions(*, user: User, message_id: Any) -> list[MessageRevision]:
    """Earlier bodies of a message, oldest first. For a deleted message only admins see
    them here; compliance officers read them through the console and exports."""
    message = message_get_for_user(user=user, message_id=message_id)
    if message.is_deleted and not user.is_org_admin:
        raise NotFound("No such message.")
    return list(MessageRevision.objects.filter(message=message).order_by("id"))


def pin_list(*, user: User, conversation_id: Any) -> list[Message]:
    conversation, _ = conversation_get_for_user(user=user, conversation_id=conversation_id)
    pinned = Pin.objects.filter(conversation=conversation).values("message_id")
    messages = list(Message.objects.filter(pk__in=pinned, deleted_at__isnull=True)
                    .order_by("-pin__pinned_at"))
    attach_payload_related(messages)
    return messages


def draft_list(*, user: User) -> list[Draft]:
    """The person's drafts in conversations they are still a member of, newest first."""
    member_of = Membership.objects.filter(user=user).values("conversation_id")
    return list(Draft.objects.filter(user=user, conversation_id__in=member_of)
                .order_by("-updated_at")[:500])


def saved_list(*, user: User, done: bool | None = None) -> list[tuple[Message, SavedMessage]]:
    """Saved messages the person may still see, most recently saved first, each with
    its saved row; only those in progress (done=False) or done (done=True) when asked."""
    rows = SavedMessage.objects.filter(user=user)
    if done is not None:
        rows = rows.filter(done_at__isnull=not done)
    saved = list(rows.order_by("-saved_at", "-id")[:500])
    visible = _visible_conversation_ids(user)
    found = list(Message.objects.filter(pk__in=[s.message_id for s in saved],
                                        deleted_at__isnull=True, conversation_id__in=visible))
    attach_payload_related(found)
    messages = {m.pk: m for m in found}
    return [(messages[s.message_id], s) for s in saved if s.message_id in messages]


# --- Threads the person follows (issue 28) ----------------------------------------------

THREADS_PAGE = 20


def _unread_replies() -> Coalesce:
    """Per follow row: replies by others, not deleted, after where the person read to."""
    replies = (Message.objects.filter(thread_root_id=OuterRef("root_id"),
                                      id__gt=OuterRef("last_read_reply_id"),
                                      deleted_at__isnull=True)
               .filter(~Q(author_id=OuterRef("user_id")))
               .order_by().values("thread_root_id").annotate(n=Count("id")).values("n"))
    return Coalesce(Subquery(replies, output_field=IntegerField()), Value(0))


def thread_fields(root: Message, follow: ThreadFollow | None, unread: int) -> dict[str, Any]:
    return {
        "root": root.pk,
        "conversation": root.conversation_id,
        "following": bool(follow and follow.following),
        "reply_count": root.reply_count,
        "last_reply_at": iso(root.last_reply_at),
        "last_read_reply": follow.last_read_reply_id if follow else 0,
        "unread_replies": unread if follow and follow.following else 0,
    }


def thread_state(*, user: User, root: Message, follow: ThreadFollow | None) -> dict[str, Any]:
    """One thread as the person's Threads view counts it (the `thread.updated` frame)."""
    unread = 0
    if follow is not None:
        unread = (Message.objects.filter(thread_root_id=root.pk, id__gt=follow.last_read_reply_id,
                                         deleted_at__isnull=True)
                  .exclude(author_id=user.pk).count())
    return thread_fields(root, follow, unread)


def thread_states(*, root_id: int) -> dict[int, dict[str, Any]]:
    """{follower's id: their state of the thread} for everyone following it who may still
    see it, in one query."""
    root = Message.objects.select_related("conversation").filter(pk=root_id).first()
    if root is None:
        return {}
    follows = list(ThreadFollow.objects.filter(root_id=root_id, following=True)
                   .annotate(unread=_unread_replies()))
    if not follows:
        return {}
    seeing = viewers_among(conversation=root.conversation, user_ids=[f.user_id for f in follows])
    return {f.user_id: thread_fields(root, f, f.unread) for f in follows if f.user_id in seeing}


@dataclass
class ThreadsPage:
    threads: list[tuple[ThreadFollow, Message | None]]  # each follow (root loaded), its newest reply
    next_cursor: str | None
    unread_threads: int


def _threads_cursor(value: Any) -> tuple[datetime, int]:
    try:
        moment, root_id = str(value).rsplit("_", 1)
        return datetime.fromisoformat(moment.replace("Z", "+00:00")), int(root_id)
    except (TypeError, ValueError):
        raise InvalidInput.for_field("cursor", "Give the next_cursor of the page before.") from None


def thread_list(*, user: User, cursor: Any = None, limit: Any = None) -> ThreadsPage:
    """The threads the person follows, in conversations they may still see, newest
    activity first, each with its unread replies and newest reply; the number of
    followed threads with anything unread."""
    size = THREADS_PAGE if limit in (None, "") else min(_int_param("limit", limit), MAX_PAGE)
    # One person's rows only (each reply keeps its followers' activity and newest reply
    # by someone else on them): no thread's replies are read to order or count them.
    follows = ThreadFollow.objects.filter(user=user, following=True,
                                          conversation_id__in=_visible_conversation_ids(user))
    unread_threads = follows.filter(last_other_reply_id__gt=F("last_read_reply_id")).count()
    rows = follows.select_related("root")
    if cursor not in (None, ""):
        moment, root_id = _threads_cursor(cursor)
        rows = rows.filter(Q(last_activity_at__lt=moment)
                           | Q(last_activity_at=moment, root_id__lt=root_id))
    page = list(rows.order_by("-last_activity_at", "-root_id")[: size + 1])
    more = len(page) > size
    page = page[:size]
    unread = dict(ThreadFollow.objects.filter(pk__in=[f.pk for f in page])
                  .annotate(unread=_unread_replies()).values_list("pk", "unread"))
    for follow in page:
        follow.unread = unread.get(follow.pk, 0)
    newest_ids = dict(
        Message.objects.filter(thread_root_id__in=[f.root_id for f in page], deleted_at__isnull=True)
        .order_by().values("thread_root_id").annotate(newest=Max("id"))
        .values_list("thread_root_id", "newest"))
    newest = {m.pk: m for m in Message.objects.filter(pk__in=list(newest_ids.values()))}
    attach_payload_related([*(f.root for f in page), *newest.values()])  # one round for both
    next_cursor = None
    if more and page:
        last = page[-1]
        next_cursor = f"{iso(last.last_activity_at)}_{last.root_id}"
    return ThreadsPage([(f, newest.get(newest_ids.get(f.root_id, 0))) for f in page],
                       next_cursor, unread_threads)


# --- Activity: mentions of me, replies to me, reactions to me (issue 28) ----------------

ACTIVITY_KINDS = ("mention", "reply", "reaction")
ACTIVITY_PAGE = 30


@dataclass
class ActivityItem:
    kind: str  # mention, reply, reaction
    key: str  # unique among the person's items, e.g. "reaction-12"
    at: datetime
    message: Message  # the mentioning message, the reply, or my message reacted to
    actor_id: int  # who mentioned, replied or reacted
    unread: bool = True
    emoji: str | None = None
    mention_kind: str | None = None  # user or group


@dataclass
class ActivityPage:
    items: list[ActivityItem]
    next_before: str | None


def activity_list(*, user: User, kind: Any = None, before: Any = None,
                  limit: Any = None) -> ActivityPage:
    """What happened to the person, newest first: mentions of them and of their groups,
    replies in threads they started, reactions to their messages, each from others and
    in conversations they may still see; `kind` keeps one of them. Mentions and replies
    are unread until the person reads them where they were written (the conversation,
    or the thread); reactions until they look at their Activity view (activity_seen)."""
    if kind in (None, ""):
        kinds = ACTIVITY_KINDS
    elif kind in ACTIVITY_KINDS:
        kinds = (kind,)
    else:
        raise InvalidInput.for_field("kind", "Must be mention, reply or reaction.")
    size = ACTIVITY_PAGE if limit in (None, "") else min(_int_param("limit", limit), MAX_PAGE)
    moment = None
    if before not in (None, ""):
        try:
            moment = datetime.fromisoformat(str(before).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput.for_field("before", "Give next_before of the page before.") from None
    visible = _visible_conversation_ids(user)
    live = {"deleted_at__isnull": True, "conversation_id__in": visible}
    items: list[ActivityItem] = []
    if "mention" in kinds:
        # Newest first by the (user, message) index: message ids grow with time.
        rows = (Mention.objects.filter(user=user, kind__in=(MentionKind.USER, MentionKind.GROUP),
                                       message__deleted_at__isnull=True,
                                       conversation_id__in=visible)
                .select_related("message"))
        if moment:
            rows = rows.filter(message__created_at__lt=moment)
        items += [ActivityItem("mention", f"mention-{m.pk}", m.message.created_at, m.message,
                               m.message.author_id, mention_kind=m.kind)
                  for m in rows.order_by("-message_id")[: size + 1]]
    if "reply" in kinds:
        # Each reply carries its thread's starter (and an index of them).
        rows = Message.objects.filter(thread_root_author=user, **live).exclude(author=user)
        if moment:
            rows = rows.filter(created_at__lt=moment)
        items += [ActivityItem("reply", f"reply-{m.pk}", m.created_at, m, m.author_id)
                  for m in rows.order_by("-created_at", "-id")[: size + 1]]
    if "reaction" in kinds:
        # Each reaction carries its message's author (and an index of them).
        rows = (Reaction.objects.filter(message_author=user, message__deleted_at__isnull=True,
                                        message__conversation_id__in=visible)
                .exclude(user=user).select_related("message"))
        if moment:
            rows = rows.filter(created_at__lt=moment)
        items += [ActivityItem("reaction", f"reaction-{r.pk}", r.created_at, r.message, r.user_id,
                               emoji=r.emoji)
                  for r in rows.order_by("-created_at", "-id")[: size + 1]]
    items.sort(key=lambda item: (item.at, item.message.pk), reverse=True)
    more = len(items) > size
    items = items[:size]
    _activity_unread(user, items)
    # One instance per message (two reactions to one message came as two), each with
    # what its payload shows.
    unique: dict[int, Message] = {}
    for item in items:
        item.message = unique.setdefault(item.message.pk, item.message)
    attach_payload_related(list(unique.values()))
    return ActivityPage(items, iso(items[-1].at) if more and items else None)


def _activity_unread(user: User, items: list[ActivityItem]) -> None:
    """Mark which items the person has not read yet (see activity_list)."""
    if not items:
        return
    read_seq = dict(Membership.objects.filter(
        user=user, conversation_id__in={i.message.conversation_id for i in items})
        .values_list("conversation_id", "last_read_seq"))
    roots = {i.message.thread_root_id for i in items if i.message.thread_root_id}
    threads = {root: (following, last_read) for root, following, last_read in
               ThreadFollow.objects.filter(user=user, root_id__in=roots)
               .values_list("root_id", "following", "last_read_reply_id")}
    seen = ActivityState.objects.filter(user=user).values_list("reactions_seen_at", flat=True).first()
    for item in items:
        message = item.message
        if item.kind == "reaction":
            item.unread = seen is None or item.at > seen
            continue
        in_channel_read = message.in_channel and message.seq <= read_seq.get(message.conversation_id, 0)
        if message.thread_root_id is None:
            item.unread = not in_channel_read
            continue
        following, last_read = threads.get(message.thread_root_id, (True, 0))
        item.unread = following and message.pk > last_read and not in_channel_read


# --- Read receipts: who has read a message ("Seen by", issue 28) ------------------------


@dataclass
class Receipts:
    enabled: bool
    reason: str | None  # why not: organisation_off, not_sharing, too_large
    seen_by: list[int]


def receipts_refusal(*, viewer: User, conversation: Conversation) -> str | None:
    """Why receipts are not shown to this person in this conversation (None: they are).
    Off for the organisation; not for someone who does not share their own; and in
    channels only up to the size an admin set."""
    from accounts.models import Organisation

    organisation = Organisation.get()
    if not organisation.read_receipts_enabled:
        return "organisation_off"
    if not viewer.share_read_receipts:
        return "not_sharing"
    if conversation.kind != ConversationKind.DIRECT and (
            Membership.objects.filter(conversation_id=conversation.pk).count()
            > organisation.read_receipts_max_members):
        return "too_large"
    return None


def message_receipts(*, user: User, message_id: Any) -> Receipts:
    """Who has read a message the person may see: members (never its author, a bot, or
    someone who does not share receipts) whose read position is at or past it, in the
    conversation or, for a reply kept to its thread, in the thread they follow."""
    message = message_get_for_user(user=user, message_id=message_id)
    refusal = receipts_refusal(viewer=user, conversation=message.conversation)
    if refusal is not None:
        return Receipts(False, refusal, [])
    readers = (Membership.objects.filter(conversation_id=message.conversation_id,
                                         user__is_active=True, user__is_bot=False,
                                         user__share_read_receipts=True)
               .exclude(user_id=message.author_id))
    if message.in_channel:
        seen = readers.filter(last_read_seq__gte=message.seq).values_list("user_id", flat=True)
    else:
        seen = ThreadFollow.objects.filter(
            root_id=message.thread_root_id, last_read_reply_id__gte=message.pk,
            user_id__in=readers.values("user_id")).values_list("user_id", flat=True)
    return Receipts(True, None, sorted(seen))


def receipt_recipients(*, reader: User, conversation: Conversation, after_seq: int = 0,
                       upto_seq: int = 0, thread_root_id: int | None = None,
                       after_reply: int = 0, upto_reply: int = 0) -> list[int]:
    """Whom to tell that `reader` read further: the authors of what they just read (in
    the conversation, seqs after..upto; or in a thread, reply ids after..upto), still
    members, sharing receipts, for whom receipts are on here. Empty when the reader does
    not share theirs or receipts are off."""
    if receipts_refusal(viewer=reader, conversation=conversation) is not None:
        return []
    if thread_root_id is None:
        read = _channel_visible(conversation.pk).filter(seq__gt=after_seq, seq__lte=upto_seq)
    else:
        read = Message.objects.filter(thread_root_id=thread_root_id, id__gt=after_reply,
                                      id__lte=upto_reply)
    authors = read.filter(deleted_at__isnull=True).exclude(author_id=reader.pk).values("author_id")
    return sorted(Membership.objects.filter(
        conversation_id=conversation.pk, user_id__in=authors, user__is_active=True,
        user__is_bot=False, user__share_read_receipts=True).values_list("user_id", flat=True))
def scheduled_list(*, user: User, state: str | None = None) -> list[ScheduledMessage]:
    """The person's own scheduled messages: those waiting, soonest first, then those
    not sent and those sent, newest first (cancelled ones only when asked for)."""
    if state is not None and state not in ScheduledState.values:
        raise InvalidInput.for_field("state", "Must be pending, sent, failed or cancelled.")
    rows = ScheduledMessage.objects.filter(author=user)
    rows = rows.filter(state=state) if state else rows.exclude(state=ScheduledState.CANCELLED)
    waiting = list(rows.filter(state=ScheduledState.PENDING).order_by("send_at", "id")[:500])
    others = list(rows.exclude(state=ScheduledState.PENDING).order_by("-send_at", "-id")[:500])
    return waiting + others


def scheduled_get_for_user(*, user: User, scheduled_id: Any) -> ScheduledMessage:
    """One of the person's own scheduled messages; anyone else's does not exist."""
    try:
        pk = int(scheduled_id)
    except (TypeError, ValueError):
        raise NotFound("No such scheduled message.") from None
    scheduled = ScheduledMessage.objects.filter(pk=pk, author=user).first() if 0 < pk < 2**63 else None
    if scheduled is None:
        raise NotFound("No such scheduled message.")
    return scheduled


def reminder_list(*, user: User, state: str | None = None) -> list[tuple[Reminder, Message]]:
    """The person's reminders about messages they may still see, each with its message:
    those waiting, soonest first (or, asked for, those delivered, newest first)."""
    state = state or ReminderState.PENDING
    if state not in (ReminderState.PENDING, ReminderState.DELIVERED):
        raise InvalidInput.for_field("state", "Must be pending or delivered.")
    order = ("remind_at", "id") if state == ReminderState.PENDING else ("-remind_at", "-id")
    reminders = list(Reminder.objects.filter(user=user, state=state).order_by(*order)[:500])
    found = list(Message.objects.filter(pk__in=[r.message_id for r in reminders],
                                        deleted_at__isnull=True,
                                        conversation_id__in=_visible_conversation_ids(user)))
    attach_payload_related(found)
    messages = {m.pk: m for m in found}
    return [(r, messages[r.message_id]) for r in reminders if r.message_id in messages]


def viewers_among(*, conversation: Conversation, user_ids: Iterable[int]) -> set[int]:
    """Those of these people who may see the conversation now: permissions.can_view for
    many people at once (members who are active; in a public channel, also any active
    person but a guest or a bot), in one or two queries."""
    ids = set(user_ids)
    if not ids:
        return set()
    seeing = set(Membership.objects.filter(conversation_id=conversation.pk, user_id__in=ids,
                                           user__is_active=True).values_list("user_id", flat=True))
    if conversation.kind == ConversationKind.PUBLIC and ids - seeing:
        seeing |= set(User.objects.filter(pk__in=ids - seeing, is_active=True, is_bot=False)
                      .exclude(role=Role.GUEST).values_list("pk", flat=True))
    return seeing


def _visible_conversation_ids(user: User) -> QuerySet:
    mine = Membership.objects.filter(user=user).values("conversation_id")
    if user.is_guest or user.is_bot:
        return Conversation.objects.filter(pk__in=mine).values("pk")
    return Conversation.objects.filter(Q(pk__in=mine) | Q(kind=ConversationKind.PUBLIC)).values("pk")


def usergroup_list(*, user: User) -> QuerySet[UserGroup]:
    return UserGroup.objects.prefetch_related("members").order_by("handle")


# --- Realtime ------------------------------------------------------------------------

RESUME_MAX_EVENTS = 500


@dataclass
class Replay:
    frames: list[dict[str, Any]]
    last_seq: int
    resync: bool


def conversation_ids_for_socket(*, user: User) -> dict[int, int]:
    """{conversation_id: last_seq} of every conversation the person belongs to."""
    return dict(
        Membership.objects.filter(user=user).values_list("conversation_id",
                                                         "conversation__last_seq")
    )


def events_since(*, user: User, conversation_id: int, since_seq: int,
                 limit: int = RESUME_MAX_EVENTS) -> Replay:
    """What the person missed in a conversation after `since_seq`, in order, as frames.

    Membership is checked again here, on every replay. A gap larger than `limit` (or
    reaching back past the kept log) asks the client to resync over REST instead.
    """
    from messaging.events import event_frame

    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    membership = Membership.objects.filter(user=user, conversation=conversation).first()
    permissions.require_view(user, conversation, membership)
    if since_seq >= conversation.last_seq:
        return Replay([], conversation.last_seq, False)
    if conversation.last_seq - since_seq > limit:
        return Replay([], conversation.last_seq, True)
    events = list(
        ConversationEvent.objects.filter(conversation=conversation, seq__gt=since_seq,
                                         seq__lte=conversation.last_seq).order_by("seq")
    )
    if [e.seq for e in events] != list(range(since_seq + 1, conversation.last_seq + 1)):
        return Replay([], conversation.last_seq, True)  # pruned from the log (retention)
    message_ids = {e.message_id for e in events if e.message_id}
    root_ids = {e.payload.get("thread_root") for e in events if e.payload.get("thread_root")}
    messages = messages_by_id(sorted(message_ids | root_ids))
    frames = []
    for event in events:
        payload = {k: v for k, v in event.payload.items() if k != "thread_root"}
        root = messages.get(event.payload.get("thread_root"))
        frames.append(event_frame(event.type, conversation.pk, event.seq,
                                  message=messages.get(event.message_id), thread_root=root,
                                  payload=payload))
    return Replay(frames, events[-1].seq, False)


def direct_partner_ids(*, user: User) -> list[int]:
    """People the person has direct conversations with (their presence shows in the sidebar)."""
    mine = Membership.objects.filter(user=user, conversation__kind=ConversationKind.DIRECT).values(
        "conversation_id")
    return sorted(set(Membership.objects.filter(conversation_id__in=mine).exclude(user=user)
                      .values_list("user_id", flat=True)))


def message_preview(*, user: User, text: str, conversation_id: Any = None) -> str:
    """HTML the text would render to; mentions resolve against the conversation if given."""
    from messaging import markdown
    from messaging.services.messages import mention_resolver

    resolver = None
    if conversation_id is not None:
        conversation, _ = conversation_get_for_user(user=user, conversation_id=conversation_id)
        resolver = mention_resolver(conversation.pk)
    return markdown.render(text, resolver).html


_EMOJI_CATALOGUE: list[list[str]] | None = None


def emoji_catalogue() -> list[list[str]]:
    """[[emoji, shortcode, more shortcodes…], …] for every fully-qualified emoji."""
    global _EMOJI_CATALOGUE
    if _EMOJI_CATALOGUE is None:
        import emoji

        catalogue = []
        for character, data in emoji.EMOJI_DATA.items():
            if data.get("status") != emoji.STATUS["fully_qualified"]:
                continue
            names = [data["en"].strip(":")] + [a.strip(":") for a in data.get("alias", [])]
            catalogue.append([character, *dict.fromkeys(names)])
        _EMOJI_CATALOGUE = catalogue
    return _EMOJI_CATALOGUE


def conversation_labels(*, user: User, conversation_ids: set[int]) -> dict[int, str]:
    """How each conversation is named to this person: #channel, or the other people."""
    conversations = Conversation.objects.filter(pk__in=conversation_ids)
    members = direct_member_ids(conversation_ids=[c.pk for c in conversations
                                                  if c.kind == ConversationKind.DIRECT])
    names = dict(User.objects.filter(pk__in={uid for ids in members.values() for uid in ids})
                 .values_list("pk", "display_name"))
    labels = {}
    for conversation in conversations:
        if conversation.kind == ConversationKind.DIRECT:
            others = [names.get(uid, "") for uid in members[conversation.pk] if uid != user.pk]
            labels[conversation.pk] = ", ".join(others) or names.get(user.pk, "")
        else:
            labels[conversation.pk] = f"#{conversation.name}"
    return labels


def push_subscription_list(*, user: User) -> list[PushSubscription]:
    """The devices a person receives push notifications on, newest first."""
    return list(PushSubscription.objects.filter(user=user).order_by("-created_at", "-id"))
