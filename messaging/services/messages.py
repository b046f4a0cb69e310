"""Writes on messages: send (idempotent), edit, delete, reactions, pins, saved, read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import emoji
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import User
from core import ratelimit, requestid
from core.audit import audit_record
from core.batching import Batched
from core.compiled import CompiledQuery
from core.errors import Conflict, InvalidInput, NotFound
from core.ids import row_id
from core.live import user_event_on_commit
from files.services import attachments_attach
from messaging import markdown, permissions
from messaging.encryption import message_sealed_fields
from messaging.events import (
    event_announce,
    event_record,
    message_created_record,
)
from messaging.models import (
    Membership,
    Mention,
    MentionKind,
    Message,
    MessageRevision,
    Pin,
    Reaction,
    SavedMessage,
    UserGroup,
)
from messaging.payloads import PayloadRelated
from messaging.services.activity import activity_tell
from messaging.services.conversations import lock_conversation, membership_of
from messaging.services.push import push_shown_read, push_withdraw_on_commit
from messaging.services.receipts import receipts_tell
from messaging.services.threads import threads_after_reply, threads_after_reply_deleted

CLIENT_MSG_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
THREAD_PARTICIPANTS_KEPT = 50


@dataclass(frozen=True)
class SendResult:
    message: Message
    created: bool
    # A new message's payload, as its message.created event carries it (built once).
    payload: dict[str, Any] | None = None


def clean_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InvalidInput.for_field("text", "Must be text.")
    if not text.strip():
        raise InvalidInput.for_field("text", "A message cannot be empty.")
    if len(text) > markdown.MAX_TEXT_LENGTH:
        raise InvalidInput.for_field("text", f"At most {markdown.MAX_TEXT_LENGTH} characters.")
    if "\x00" in text:
        raise InvalidInput.for_field("text", "Contains a NUL character.")
    return text.rstrip()


def clean_client_msg_id(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not CLIENT_MSG_ID_RE.match(value):
        raise InvalidInput.for_field(
            "client_msg_id", "Up to 64 letters, digits and . _ : - (a UUID works well)."
        )
    return value


def clean_emoji(value: Any) -> str:
    """An emoji as its Unicode characters; `:shortcode:` forms are converted."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise InvalidInput.for_field("emoji", "Give one emoji, like 👍 or :thumbsup:.")
    value = value.strip()
    if value.startswith(":") and value.endswith(":") and len(value) > 2:
        converted = emoji.emojize(value, language="alias")
        if converted == value:
            raise InvalidInput.for_field("emoji", f"{value} is not an emoji we know.")
        value = converted
    if not emoji.purely_emoji(value) or emoji.emoji_count(value) != 1:
        raise InvalidInput.for_field("emoji", "Give exactly one emoji, like 👍 or :thumbsup:.")
    return value


def mention_resolver(conversation_id: int) -> markdown.Resolver:
    def resolve(refs: markdown.MentionRefs) -> markdown.Resolved:
        resolved = markdown.Resolved()
        if refs.ids:
            for user in User.objects.filter(pk__in=refs.ids, is_active=True):
                resolved.users_by_id[user.pk] = markdown.MentionTarget(user.pk, user.display_name)
        if refs.names:
            candidates = (
                User.objects.annotate(lower_name=Lower("display_name"))
                .filter(lower_name__in=refs.names, is_active=True)
                .order_by("pk")
            )
            member_ids = set(
                Membership.objects.filter(conversation_id=conversation_id,
                                          user__in=candidates).values_list("user_id", flat=True)
            )
            # Two people may share a name: prefer the one in this conversation.
            for user in sorted(candidates, key=lambda u: (u.pk not in member_ids, u.pk)):
                resolved.users_by_name.setdefault(
                    user.lower_name, markdown.MentionTarget(user.pk, user.display_name)
                )
        words = refs.words - set(markdown.SPECIAL_MENTIONS)
        if words:
            resolved.groups = dict(
                UserGroup.objects.filter(handle__in=words).values_list("handle", "name")
            )
        return resolved

    return resolve


def _mentioned_members(conversation_id: int, author_id: int,
                       rendered: markdown.Rendered) -> dict[int, str]:
    """Members of the conversation the message mentions, with how: {user_id: kind}."""
    if not (rendered.user_ids or rendered.group_handles or rendered.specials):
        return {}  # most messages mention nobody: no need to read the member list
    member_ids = set(
        Membership.objects.filter(conversation_id=conversation_id).values_list("user_id", flat=True)
    )
    member_ids.discard(author_id)
    kinds: dict[int, str] = {}
    if "channel" in rendered.specials:
        kinds.update(dict.fromkeys(member_ids, MentionKind.CHANNEL))
    elif "here" in rendered.specials:
        from accounts.presence import active_among

        kinds.update(dict.fromkeys(active_among(member_ids), MentionKind.HERE))
    if rendered.group_handles:
        group_members = User.objects.filter(
            user_groups__handle__in=rendered.group_handles, pk__in=member_ids
        ).values_list("pk", flat=True)
        kinds.update(dict.fromkeys(group_members, MentionKind.GROUP))
    kinds.update(dict.fromkeys(rendered.user_ids & member_ids, MentionKind.USER))
    return kinds


def _existing_send(author: User, client_msg_id: str, conversation_id: int) -> Message | None:
    if not client_msg_id:
        return None
    existing = Message.objects.filter(author=author, client_msg_id=client_msg_id).first()
    if existing is not None and existing.conversation_id != int(conversation_id):
        raise Conflict("This client_msg_id was already used for a message in another "
                       "conversation.", fields={"client_msg_id": ["Already used."]})
    return existing


def message_create(
    *,
    author: User,
    conversation_id: int,
    text: Any,
    client_msg_id: Any = "",
    thread_root_id: Any = None,
    also_in_channel: bool = False,
    file_ids: Any = (),
    encrypted: Any = None,
) -> SendResult:
    """Post a message, with files uploaded before (their ids). A client_msg_id the author
    used before returns that first message (created=False) instead of posting a copy, so a
    retried send is safe."""
    client_msg_id = clean_client_msg_id(client_msg_id)
    # A retried send (same client_msg_id) is caught by the unique constraint below rather
    # than looked up first: a send that is not a retry then costs no extra query.
    ratelimit.enforce("messages", author.pk, settings.RATE_LIMIT_MESSAGES, "messages")
    if file_ids is None:
        file_ids = ()
    if not isinstance(file_ids, list | tuple):
        raise InvalidInput.for_field("files", "Must be a list of file ids.")
    if encrypted is not None:
        # End-to-end encrypted: the text travels in the ciphertext (checked under the lock).
        text = "" if text in (None, "") else text
    else:
        text = "" if file_ids and isinstance(text, str) and not text.strip() else clean_text(text)
    if thread_root_id in ("", None):
        thread_root_id = None
    elif not isinstance(thread_root_id, int) and not str(thread_root_id).isdigit():
        raise InvalidInput.for_field("thread_root", "Must be a message id.")
    try:
        with transaction.atomic():
            message, payload = _create_locked(
                author, int(conversation_id), text, client_msg_id,
                thread_root_id and int(thread_root_id), bool(also_in_channel), list(file_ids),
                encrypted)
    except IntegrityError:
        existing = _existing_send(author, client_msg_id, conversation_id)
        if existing is None:
            raise
        return SendResult(existing, False)
    return SendResult(message, True, payload)


def _create_locked(author: User, conversation_id: int, text: str, client_msg_id: str,
                   thread_root_id: int | None, also_in_channel: bool,
                   file_ids: list[Any], encrypted: Any = None) -> tuple[Message, dict[str, Any]]:
    conversation = lock_conversation(conversation_id)
    membership = membership_of(author, conversation)
    permissions.require_participate(author, conversation, membership)
    sealed = message_sealed_fields(conversation=conversation, text=text, encrypted=encrypted)
    root = None
    if thread_root_id is not None:
        root = Message.objects.filter(pk=thread_root_id, conversation=conversation).first()
        if root is None:
            raise InvalidInput.for_field("thread_root", "No such message in this conversation.")
        if root.thread_root_id is not None:
            raise InvalidInput.for_field("thread_root", "Reply to the thread's first message.")
        if root.is_deleted:
            raise InvalidInput.for_field("thread_root", "That message was deleted.")
    rendered = markdown.render(text, mention_resolver(conversation.pk))
    now = timezone.now()
    message = Message(
        conversation=conversation,
        author=author,
        thread_root=root,
        thread_root_author_id=root.author_id if root is not None else None,
        also_in_channel=also_in_channel and root is not None,
        text=text,
        html=rendered.html,
        has_link=rendered.has_link,
        seq=conversation.last_seq + 1,
        client_msg_id=client_msg_id,
        created_at=now,
        **sealed,
    )
    # With the event, the new seq and (your own message is read by you) your read position.
    seq = message_created_record(conversation=conversation, message=message, thread_root=root,
                                 reader=membership)
    attachments = attachments_attach(author=author, message=message, file_ids=file_ids)
    mentions = _mentioned_members(conversation.pk, author.pk, rendered)
    Mention.objects.bulk_create(
        Mention(message=message, user_id=user_id, kind=kind, conversation=conversation,
                seq=message.seq)
        for user_id, kind in mentions.items()
    )
    # Mentioned by name or group: their Threads and Activity views hear of it.
    named = [user_id for user_id, kind in mentions.items()
             if kind in (MentionKind.USER, MentionKind.GROUP)]
    if root is not None:
        # The root's author first, then repliers in the order they last replied.
        participants = list(root.thread_participants) or [root.author_id]
        if author.pk in participants and author.pk != root.author_id:
            participants.remove(author.pk)
        if author.pk not in participants:
            participants.append(author.pk)
        root.thread_participants = participants[-THREAD_PARTICIPANTS_KEPT:]
        root.reply_count += 1
        root.last_reply_at = now
        root.save(update_fields=["thread_participants", "reply_count", "last_reply_at"])
        threads_after_reply(root=root, reply=message, mentioned=named)
        activity_tell(user_ids=[root.author_id], kind="reply", message=message,
                      actor_id=author.pk)
    if named:
        activity_tell(user_ids=named, kind="mention", message=message, actor_id=author.pk)
    # A new message has no reactions, previews or pin yet: its payload asks no query.
    message.payload_related = PayloadRelated(attachments=attachments)
    frame = event_announce(conversation=conversation, event_type="message.created", seq=seq,
                           message=message, thread_root=root)
    transaction.on_commit(lambda: _after_create(message.pk, message.has_link))
    return message, frame["message"]


# One per process: a send's job is published with those of the sends of the next 20 ms.
messages_created_jobs = Batched("messaging.tasks.messages_created")


def _after_create(message_id: int, has_link: bool) -> None:
    messages_created_jobs.add((message_id, has_link, requestid.request_id.get()))


def _lock_message(message_id: Any) -> Message:
    """Lock the message's conversation, then load the message. Call inside atomic()."""
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        raise NotFound("No such message.") from None
    conversation_id = Message.objects.filter(pk=message_id).values_list(
        "conversation_id", flat=True).first()
    if conversation_id is None:
        raise NotFound("No such message.")
    conversation = lock_conversation(conversation_id)
    message = Message.objects.select_related("thread_root").get(pk=message_id)
    message.conversation = conversation
    return message


def _require_visible(actor: User, message: Message) -> Membership | None:
    membership = membership_of(actor, message.conversation)
    permissions.require_view(actor, message.conversation, membership)
    return membership


def message_edit(*, actor: User, message_id: Any, text: Any, encrypted: Any = None) -> Message:
    """Replace a message's text (or, end-to-end encrypted, its ciphertext), keeping the
    earlier body as a revision."""
    text = clean_text(text) if encrypted is None else ("" if text in (None, "") else text)
    with transaction.atomic():
        message = _lock_message(message_id)
        membership = _require_visible(actor, message)
        permissions.require_edit_message(actor, message, membership)
        sealed = message_sealed_fields(conversation=message.conversation, text=text, encrypted=encrypted)
        if not sealed and text == message.text:
            return message
        now = timezone.now()
        MessageRevision.objects.create(
            message=message, text=message.text, html=message.html, ciphertext=message.ciphertext,
            nonce=message.nonce, key_id=message.key_id,
            written_at=message.edited_at or message.created_at, replaced_at=now, replaced_by=actor,
        )
        rendered = markdown.render(text, mention_resolver(message.conversation_id))
        message.text = text
        message.html = rendered.html
        message.has_link = rendered.has_link
        message.edited_at = now
        for field, value in sealed.items():
            setattr(message, field, value)
        message.save(update_fields=["text", "html", "has_link", "edited_at", *sealed])
        _sync_mentions(message, rendered)
        event_record(conversation=message.conversation, event_type="message.edited",
                     message=message)
        version = message.revisions.count()
        audit_record(action="message.edited", actor=actor, target=message,
                     conversation_id=message.conversation_id, data={"revisions": version})
        transaction.on_commit(lambda: _edited(message.pk, version))
    return message


def _edited(message_id: int, version: int) -> None:
    from messaging.tasks import message_edited

    message_edited.delay(message_id, version)


def _sync_mentions(message: Message, rendered: markdown.Rendered) -> None:
    wanted = _mentioned_members(message.conversation_id, message.author_id, rendered)
    current = dict(Mention.objects.filter(message=message).values_list("user_id", "kind"))
    Mention.objects.filter(message=message).exclude(user_id__in=wanted).delete()
    Mention.objects.bulk_create(
        Mention(message=message, user_id=user_id, kind=kind,
                conversation_id=message.conversation_id, seq=message.seq)
        for user_id, kind in wanted.items() if user_id not in current
    )


def message_delete(*, actor: User, message_id: Any) -> Message:
    """Delete a message as a tombstone: its body leaves the chat but stays, as a
    revision, in the records."""
    with transaction.atomic():
        message = _lock_message(message_id)
        membership = _require_visible(actor, message)
        permissions.require_delete_message(actor, message, membership)
        if message.is_deleted:
            return message
        now = timezone.now()
        MessageRevision.objects.create(
            message=message, text=message.text, html=message.html, ciphertext=message.ciphertext,
            nonce=message.nonce, key_id=message.key_id,
            written_at=message.edited_at or message.created_at, replaced_at=now, replaced_by=actor,
        )
        message.deleted_at = now
        message.deleted_by = actor
        message.save(update_fields=["deleted_at", "deleted_by"])
        Mention.objects.filter(message=message).delete()
        Pin.objects.filter(message=message).delete()
        root = message.thread_root
        if root is not None and root.reply_count > 0:
            root.reply_count -= 1
            root.save(update_fields=["reply_count"])
            threads_after_reply_deleted(root=root)  # counts fall
        event_record(conversation=message.conversation, event_type="message.deleted",
                     message=message, thread_root=root)
        audit_record(action="message.deleted", actor=actor, target=message,
                     conversation_id=message.conversation_id,
                     data={"author": message.author_id, "by_author": actor.pk == message.author_id})
    return message


def reaction_add(*, actor: User, message_id: Any, emoji_value: Any) -> Reaction:
    value = clean_emoji(emoji_value)
    with transaction.atomic():
        message = _lock_message(message_id)
        membership = _require_visible(actor, message)
        permissions.require_participate(actor, message.conversation, membership)
        if message.is_deleted:
            raise InvalidInput("A deleted message cannot take reactions.", code="deleted")
        existing = Reaction.objects.filter(message=message, user=actor, emoji=value).first()
        if existing is not None:
            return existing
        reaction = Reaction.objects.create(message=message, user=actor, emoji=value,
                                           message_author_id=message.author_id)
        activity_tell(user_ids=[message.author_id], kind="reaction", message=message,
                      actor_id=actor.pk)
        event_record(conversation=message.conversation, event_type="reaction.added",
                     payload={"message_id": message.pk, "emoji": value, "user": actor.pk})
    return reaction


def reaction_remove(*, actor: User, message_id: Any, emoji_value: Any) -> None:
    value = clean_emoji(emoji_value)
    with transaction.atomic():
        message = _lock_message(message_id)
        membership = _require_visible(actor, message)
        permissions.require_participate(actor, message.conversation, membership)
        deleted, _ = Reaction.objects.filter(message=message, user=actor, emoji=value).delete()
        if not deleted:
            raise NotFound("You have not reacted with that emoji.")
        event_record(conversation=message.conversation, event_type="reaction.removed",
                     payload={"message_id": message.pk, "emoji": value, "user": actor.pk})


def pin_add(*, actor: User, message_id: Any) -> Pin:
    with transaction.atomic():
        message = _lock_message(message_id)
        membership = _require_visible(actor, message)
        permissions.require_participate(actor, message.conversation, membership)
        if message.is_deleted:
            raise InvalidInput("A deleted message cannot be pinned.", code="deleted")
        existing = Pin.objects.filter(message=message).first()
        if existing is not None:
            return existing
        pin = Pin.objects.create(message=message, conversation=message.conversation,
                                 pinned_by=actor)
        event_record(conversation=message.conversation, event_type="pin.added",
                     payload={"message_id": message.pk, "user": actor.pk})
    return pin


def pin_remove(*, actor: User, message_id: Any) -> None:
    with transaction.atomic():
        message = _lock_message(message_id)
        membership = _require_visible(actor, message)
        permissions.require_participate(actor, message.conversation, membership)
        deleted, _ = Pin.objects.filter(message=message).delete()
        if not deleted:
            raise NotFound("That message is not pinned.")
        event_record(conversation=message.conversation, event_type="pin.removed",
                     payload={"message_id": message.pk, "user": actor.pk})


def message_save(*, actor: User, message_id: Any) -> SavedMessage:
    """Save a message for later (saved again once done, it is in progress again); the
    person's other browsers follow (`saved.updated`)."""
    from messaging.selectors import message_get_for_user

    message = message_get_for_user(user=actor, message_id=message_id)
    with transaction.atomic():
        saved, created = SavedMessage.objects.get_or_create(user=actor, message=message)
        if not created and saved.done_at is not None:
            saved.done_at = None
            saved.save(update_fields=["done_at"])
        _saved_changed(actor, saved)
    return saved


def message_save_done(*, actor: User, message_id: Any, done: Any) -> SavedMessage:
    """Mark a saved message done (or in progress again)."""
    if not isinstance(done, bool):
        raise InvalidInput.for_field("done", "Must be true or false.")
    with transaction.atomic():
        saved = (SavedMessage.objects.select_for_update()
                 .filter(user=actor, message_id=_message_id(message_id)).first())
        if saved is None:
            raise NotFound("That message is not in your saved items.")
        if (saved.done_at is not None) != done:
            saved.done_at = timezone.now() if done else None
            saved.save(update_fields=["done_at"])
            _saved_changed(actor, saved)
    return saved


def message_unsave(*, actor: User, message_id: Any) -> None:
    with transaction.atomic():
        deleted, _ = SavedMessage.objects.filter(user=actor, message_id=_message_id(message_id)).delete()
        if not deleted:
            raise NotFound("That message is not in your saved items.")
        user_event_on_commit(actor.pk, {"type": "saved.updated", "message": int(message_id),
                                        "saved": False, "done": False})


def _message_id(value: Any) -> int:
    return row_id(value, NotFound("That message is not in your saved items."))


def _saved_changed(actor: User, saved: SavedMessage) -> None:
    user_event_on_commit(actor.pk, {"type": "saved.updated", "message": saved.message_id,
                                    "saved": True, "done": saved.done_at is not None})


@dataclass(frozen=True)
class ReadPosition:
    """A read position, with what is still unread after it."""

    membership: Membership  # with its conversation
    unread_count: int
    mention_count: int


# Compiled once (core/compiled.py): a client marks read whenever new messages are seen.
_locked_membership = CompiledQuery(
    Membership, lambda user_id, conversation_id: Membership.objects.select_for_update().filter(
        user_id=user_id, conversation_id=conversation_id)[:1], arity=2, write=True)
_message_seq = CompiledQuery(
    Message, lambda pk, conversation_id: Message.objects.filter(
        pk=pk, conversation_id=conversation_id).values_list("seq")[:1], arity=2, write=True)


def read_mark(*, actor: User, conversation_id: Any, message_id: Any) -> ReadPosition:
    """Move a person's read position forward to `message_id` (never backward), and tell
    their other tabs and devices. The position, with what is still unread after it."""
    from messaging.selectors import conversation_get_for_user, unread_count

    conversation, _ = conversation_get_for_user(user=actor, conversation_id=conversation_id)
    conversation_id = conversation.pk
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        raise InvalidInput.for_field("message", "Must be a message id.") from None
    with transaction.atomic():
        membership = _locked_membership.first(actor.pk, conversation_id)
        if membership is None:
            raise NotFound("You are not a member of this conversation.")
        membership.conversation = conversation
        found = _message_seq.first(message_id, conversation_id)
        if found is None:
            raise InvalidInput.for_field("message", "No such message in this conversation.")
        seq = found[0]
        if seq <= membership.last_read_seq:
            return ReadPosition(membership, *unread_count(user=actor, conversation_id=conversation_id))
        receipts_tell(reader=actor, conversation=conversation, after=membership.last_read_seq,
                      upto=seq)
        membership.last_read_seq = seq
        membership.last_read_message_id = message_id
        membership.save(update_fields=["last_read_seq", "last_read_message_id"])
        if push_shown_read(user_id=actor.pk, conversation_id=conversation_id, seq=seq):
            push_withdraw_on_commit(actor.pk, conversation_id)
        return _read_moved(actor, membership)


def read_mark_unread(*, actor: User, message_id: Any) -> ReadPosition:
    """Mark a message unread: the person's read position moves back to just before it,
    and the unread and mention counts follow on every tab and device (`read.updated`,
    with `marked_unread`). The position, with what is now unread after it."""
    from messaging.selectors import conversation_get_for_user, message_get_for_user

    message = message_get_for_user(user=actor, message_id=message_id)
    if message.thread_root_id is not None and not message.also_in_channel:
        raise InvalidInput.for_field(
            "message", "A reply in a thread is not counted in the conversation; mark the "
                       "thread's first message unread instead.")
    conversation, _ = conversation_get_for_user(user=actor, conversation_id=message.conversation_id)
    with transaction.atomic():
        membership = _locked_membership.first(actor.pk, conversation.pk)
        if membership is None:
            raise NotFound("You are not a member of this conversation.")
        membership.conversation = conversation
        membership.last_read_seq = message.seq - 1
        membership.last_read_message_id = (
            Message.objects.filter(conversation_id=conversation.pk, seq__lt=message.seq)
            .order_by("-seq").values_list("pk", flat=True).first() or 0)
        membership.save(update_fields=["last_read_seq", "last_read_message_id"])
        return _read_moved(actor, membership, marked_unread=True)


def _read_moved(actor: User, membership: Membership, *, marked_unread: bool = False) -> ReadPosition:
    """After a read position moved: what is unread after it, told to the person's other
    tabs and devices once the move commits."""
    from messaging.selectors import unread_count

    unread, mentions = unread_count(user=actor, conversation_id=membership.conversation_id)
    event = {
        "type": "read.updated",
        "conversation": membership.conversation_id,
        "seq": membership.conversation.last_seq,
        "last_read_message": membership.last_read_message_id,
        "last_read_seq": membership.last_read_seq,
        "unread_count": unread,
        "mention_count": mentions,
    }
    if marked_unread:
        event["marked_unread"] = True  # a position that moved back, not a stale one
    user_event_on_commit(actor.pk, event)
    return ReadPosition(membership, unread, mentions)
