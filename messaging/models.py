"""Conversations, memberships, messages and what hangs off them.

Every change a member can see is an event with the conversation's next `seq`
(ConversationEvent); messages carry the seq of the event that created them.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone


class ConversationKind(models.TextChoices):
    PUBLIC = "public", "Public channel"
    PRIVATE = "private", "Private channel"
    DIRECT = "direct", "Direct conversation"


class Conversation(models.Model):
    kind = models.CharField(max_length=8, choices=ConversationKind.choices)
    name = models.CharField(max_length=80, blank=True)
    topic = models.CharField(max_length=250, blank=True)
    purpose = models.CharField(max_length=250, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    archived_at = models.DateTimeField(null=True, blank=True)
    # The seq of the newest event; the next event takes last_seq + 1 under the row lock.
    last_seq = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Sorted member ids of a direct conversation: one conversation per member set.
    direct_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    # End-to-end encrypted (e2ee app): messages hold ciphertext only; fixed at creation.
    encrypted = models.BooleanField(default=False)
    # A default channel (public only): new people join it when they arrive (issue 34).
    is_default = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                condition=~Q(kind="direct"),
                name="messaging_channel_name_ci_unique",
            ),
        ]
        indexes = [models.Index(fields=["kind", "archived_at"])]

    def __str__(self) -> str:
        return self.name or f"direct:{self.direct_key}"

    @property
    def is_channel(self) -> bool:
        return self.kind != ConversationKind.DIRECT

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class MembershipRole(models.TextChoices):
    ADMIN = "admin", "Channel admin"
    MEMBER = "member", "Member"


class NotificationLevel(models.TextChoices):
    DEFAULT = "default", "Follow my default"
    ALL = "all", "All messages"
    MENTIONS = "mentions", "Mentions only"
    NOTHING = "nothing", "Nothing"


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(
        max_length=8, choices=MembershipRole.choices, default=MembershipRole.MEMBER
    )
    joined_at = models.DateTimeField(default=timezone.now)
    last_read_message_id = models.BigIntegerField(default=0)
    last_read_seq = models.BigIntegerField(default=0)
    notification_level = models.CharField(
        max_length=8, choices=NotificationLevel.choices, default=NotificationLevel.DEFAULT
    )
    muted = models.BooleanField(default=False)
    starred = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="messaging_membership_unique")
        ]
        indexes = [models.Index(fields=["conversation", "user"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id}"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages"
    )
    thread_root = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    # A thread reply also shown in the channel ("also send to channel").
    also_in_channel = models.BooleanField(default=False)
    # A reply's thread starter, copied from its root: the Activity view finds the replies
    # to a person's threads by it (issue 28). No constraint: people are never deleted.
    thread_root_author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
        db_constraint=False, db_index=False, related_name="+")
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    seq = models.BigIntegerField()
    client_msg_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    # Thread summary, kept on the root by the reply service.
    reply_count = models.PositiveIntegerField(default=0)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    thread_participants = models.JSONField(default=list, blank=True)
    has_link = models.BooleanField(default=False)
    # In an encrypted conversation text and html stay empty; the browser's AES-GCM
    # ciphertext (base64), its nonce and the conversation key id are kept instead.
    ciphertext = models.TextField(blank=True)
    nonce = models.CharField(max_length=32, blank=True)
    key_id = models.PositiveIntegerField(null=True, blank=True)
    # PostgreSQL keeps it from `text` with a trigger (migration 0002); the embedded mode
    # searches an FTS5 table instead and leaves this column empty.
    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="messaging_message_seq_unique"),
            models.UniqueConstraint(
                fields=["author", "client_msg_id"],
                condition=~Q(client_msg_id=""),
                name="messaging_message_client_msg_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "id"]),
            models.Index(fields=["thread_root", "id"]),
            # Unread counting: channel-visible, live messages past a read position. With
            # the author in the index, a count reads no table pages (an index-only scan).
            models.Index(
                fields=["conversation", "seq"],
                condition=Q(deleted_at__isnull=True)
                & (Q(thread_root__isnull=True) | Q(also_in_channel=True)),
                include=["author"],
                name="messaging_msg_unread_idx",
            ),
            # Search filters: from:@person and after:/before: walk these newest first;
            # has:link finds the few messages with a link without reading the rest.
            models.Index(fields=["author", "id"], name="messaging_msg_author_idx"),
            models.Index(fields=["created_at"], name="messaging_msg_created_idx"),
            models.Index(fields=["id"], condition=Q(has_link=True), name="messaging_msg_links_idx"),
            # The Activity view: replies in a person's threads, newest first (replies only).
            models.Index(fields=["thread_root_author", "created_at"],
                         condition=Q(thread_root_author__isnull=False),
                         name="messaging_msg_replies_to_idx"),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} in {self.conversation_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def in_channel(self) -> bool:
        return self.thread_root_id is None or self.also_in_channel


class MessageRevision(models.Model):
    """An earlier body of a message, kept when it was edited or deleted."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    ciphertext = models.TextField(blank=True)
    nonce = models.CharField(max_length=32, blank=True)
    key_id = models.PositiveIntegerField(null=True, blank=True)
    # When this body was written (the message's creation or an earlier edit).
    written_at = models.DateTimeField()
    replaced_at = models.DateTimeField(default=timezone.now)
    replaced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"revision {self.pk} of message {self.message_id}"


class Reaction(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    # The message's author, copied: the Activity view finds reactions to a person's
    # messages by it (issue 28). No constraint: people are never deleted.
    message_author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
        db_constraint=False, db_index=False, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user", "emoji"], name="messaging_reaction_unique")
        ]
        indexes = [models.Index(fields=["message_author", "created_at"],
                                name="messaging_reaction_to_idx")]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on {self.message_id}"


class MentionKind(models.TextChoices):
    USER = "user", "Person"
    GROUP = "group", "User group"
    CHANNEL = "channel", "@channel"
    HERE = "here", "@here"


class Mention(models.Model):
    """One row per person a message mentions, however they were mentioned."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=MentionKind.choices)
    # Copied from the message so mention counts need no join.
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="messaging_mention_unique")
        ]
        indexes = [models.Index(fields=["user", "conversation", "seq"]),
                   # The Activity view: one person's mentions, newest first.
                   models.Index(fields=["user", "message"], name="messaging_mention_user_msg_idx")]

    def __str__(self) -> str:
        return f"mention of {self.user_id} in {self.message_id}"


class UserGroup(models.Model):
    """A named group of people, mentionable as @handle; admins manage groups."""

    handle = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=250, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="user_groups", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"@{self.handle}"


class Pin(models.Model):
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="pin")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="pins")
    pinned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                  related_name="+")
    pinned_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"pin of {self.message_id}"


class SavedMessage(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="saved_messages")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    saved_at = models.DateTimeField(default=timezone.now)
    # Marked done: listed under "Done" instead of "In progress" (issue 28).
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "message"], name="messaging_saved_unique")
        ]

    def __str__(self) -> str:
        return f"{self.message_id} saved by {self.user_id}"


class ThreadFollow(models.Model):
    """A person following a thread (issue 28): they started it, replied in it, were
    mentioned in it, or followed it by hand. An unfollow keeps the row with
    `following` False, so the next reply does not follow them again (their own reply or
    a mention of them does). Replies after `last_read_reply_id`, by others, are unread."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    root = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    following = models.BooleanField(default=True)
    last_read_reply_id = models.BigIntegerField(default=0)
    # Kept by each reply, so the Threads view reads one person's rows and no thread's
    # replies: the thread's newest activity, and its newest reply by someone else (the
    # thread has something unread when that is past last_read_reply_id).
    last_activity_at = models.DateTimeField(default=timezone.now)
    last_other_reply_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "root"],
                                               name="messaging_threadfollow_unique")]
        indexes = [
            # A reply's followers.
            models.Index(fields=["root", "following"], name="messaging_follow_root_idx"),
            # The Threads view: one person's followed threads, newest activity first.
            models.Index(fields=["user", "-last_activity_at"], condition=Q(following=True),
                         name="messaging_follow_view_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} follows {self.root_id}"


class ActivityState(models.Model):
    """Where a person has looked at their Activity view to (issue 28): reactions to their
    messages after `reactions_seen_at` are unread there. Mentions and replies need no
    mark of their own: they are read where the person reads the conversation or thread."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="+")
    reactions_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"activity of {self.user_id}"


class ConversationEvent(models.Model):
    """The ordered log of what happened in a conversation, for resume after a disconnect.

    Message events store only the message id: a replay shows the message as it is now,
    so a deleted message's text is never sent again.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=32)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+")
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="messaging_event_seq_unique")
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} in {self.conversation_id}"


class NotificationReason(models.TextChoices):
    MENTION = "mention", "Mention"
    DIRECT = "direct", "Direct message"
    FOLLOWED = "followed", "A conversation you follow"


class NotificationBatch(models.Model):
    """One missed-message email: the notifications it carries are claimed for it before
    it is sent, so a retry resends the same email and nothing lands in two."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"email batch {self.pk} for {self.user_id}"


class PendingNotification(models.Model):
    """A message a person may need to hear about by email if it stays unread."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=8, choices=NotificationReason.choices)
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(db_index=True)
    batch = models.ForeignKey(NotificationBatch, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="notifications")
    # Set when it is dropped (read, deleted, muted) or sent; never considered again.
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "message"], name="messaging_notification_unique")
        ]
        indexes = [models.Index(fields=["settled_at", "due_at"])]

    def __str__(self) -> str:
        return f"{self.reason} for {self.user_id} about {self.message_id}"


class PushSubscription(models.Model):
    """One browser or installed app of a person that receives Web Push notifications
    (RFC 8030): where its push service takes messages, and the keys to encrypt them for
    it (RFC 8291). Removed when the push service says it is gone (404, 410)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=128)
    auth = models.CharField(max_length=64)
    user_agent = models.CharField(max_length=300, blank=True)
    device_name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"push subscription {self.pk} of {self.user_id}"


class PushShown(models.Model):
    """A conversation a person was pushed a notification about and has not read since;
    reading it on any device withdraws the notification from their other devices."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "conversation"],
                                               name="messaging_push_shown_unique")]

    def __str__(self) -> str:
        return f"push shown to {self.user_id} in {self.conversation_id}"


class Draft(models.Model):
    """A person's unsent text in a conversation (thread_root_id 0) or in one of its
    threads, kept so that it follows them to their other browsers. Never for an
    end-to-end encrypted conversation: its drafts stay in the browser."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="drafts")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    thread_root_id = models.BigIntegerField(default=0)
    text = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "conversation", "thread_root_id"],
                                               name="messaging_draft_unique")]

    def __str__(self) -> str:
        return f"draft of {self.user_id} in {self.conversation_id}"


class ScheduledState(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Not sent"
    CANCELLED = "cancelled", "Cancelled"


class ScheduledMessage(models.Model):
    """A message its author wrote to be sent later ("send at"), by the worker at the
    minute, as the author and with their rights at that moment (issue 28)."""

    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="scheduled_messages")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    thread_root = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="+")
    text = models.TextField()
    # Whole minutes: the worker sends at the minute.
    send_at = models.DateTimeField()
    state = models.CharField(max_length=9, choices=ScheduledState.choices,
                             default=ScheduledState.PENDING)
    # Why it was not sent (an error code of core.errors, and words for the author).
    failure_code = models.CharField(max_length=40, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The worker's scan: pending rows whose time has come, oldest first.
            models.Index(fields=["send_at"], condition=Q(state="pending"),
                         name="messaging_sched_due_idx"),
            models.Index(fields=["author", "state", "send_at"], name="messaging_sched_author_idx"),
        ]

    def __str__(self) -> str:
        return f"scheduled {self.pk} of {self.author_id} in {self.conversation_id}"

    @property
    def client_msg_id(self) -> str:
        """The send's idempotency key: however many times the worker tries, one message."""
        return f"sched-{self.pk}"


class ReminderState(models.TextChoices):
    PENDING = "pending", "Waiting"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"
    # Due when the message was deleted or no longer visible to the person: not delivered.
    DROPPED = "dropped", "Not delivered"


class Reminder(models.Model):
    """"Remind me about this message" at a time: a notification to the person then."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="reminders")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    remind_at = models.DateTimeField()
    state = models.CharField(max_length=9, choices=ReminderState.choices,
                             default=ReminderState.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One waiting reminder per person and message: asking again moves its time.
            models.UniqueConstraint(fields=["user", "message"], condition=Q(state="pending"),
                                    name="messaging_reminder_pending_unique"),
        ]
        indexes = [
            models.Index(fields=["remind_at"], condition=Q(state="pending"),
                         name="messaging_reminder_due_idx"),
            models.Index(fields=["user", "state", "remind_at"], name="messaging_reminder_user_idx"),
        ]

    def __str__(self) -> str:
        return f"reminder {self.pk} of {self.user_id} about {self.message_id}"
