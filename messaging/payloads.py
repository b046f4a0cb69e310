"""The JSON shapes of messages and conversations, shared by the REST API and live events.

A message's payload needs its reactions, files, link previews and pin. Readers of many
messages attach them to all at once (selectors.attach_payload_related, a fixed number of
queries per page) as a plain attribute, `payload_related`; a message read alone gets them
when its payload is built. No Django prefetch cache is touched, so nothing here depends
on Django's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from files.payloads import attachment_payload
from messaging.models import Conversation, Membership, Message

if TYPE_CHECKING:
    from messaging.selectors import ListedConversation, ListedMembership


@dataclass(slots=True)
class PayloadRelated:
    """What a message's payload shows besides its own columns."""

    reactions: list[Any] = field(default_factory=list)
    attachments: list[Any] = field(default_factory=list)
    previews: list[Any] = field(default_factory=list)  # MessageLinkPreview rows, in order
    pinned: bool = False


def related_of(message: Message) -> PayloadRelated:
    related = message.__dict__.get("payload_related")
    if related is None:
        from messaging.selectors import attach_payload_related

        attach_payload_related([message])
        related = message.__dict__["payload_related"]
    return related


def iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def reactions_summary(message: Message) -> list[dict[str, Any]]:
    """[{emoji, count, users}] in the order each emoji was first used."""
    grouped: dict[str, list[int]] = {}
    for reaction in sorted(related_of(message).reactions, key=lambda r: (r.created_at, r.pk)):
        grouped.setdefault(reaction.emoji, []).append(reaction.user_id)
    return [{"emoji": e, "count": len(users), "users": users} for e, users in grouped.items()]


def message_payload(message: Message) -> dict[str, Any]:
    deleted = message.deleted_at is not None
    thread = None
    if message.thread_root_id is None and message.reply_count:
        thread = {
            "reply_count": message.reply_count,
            "last_reply_at": iso(message.last_reply_at),
            "participants": message.thread_participants,
        }
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "author": message.author_id,
        "text": "" if deleted else message.text,
        "html": "" if deleted else message.html,
        "seq": message.seq,
        "thread_root": message.thread_root_id,
        "also_in_channel": message.also_in_channel,
        "client_msg_id": message.client_msg_id or None,
        "created_at": iso(message.created_at),
        "edited_at": iso(message.edited_at),
        "deleted": deleted,
        "reactions": [] if deleted else reactions_summary(message),
        "files": [] if deleted else [attachment_payload(a) for a in
                                       sorted(related_of(message).attachments, key=lambda a: a.pk)],
        "thread": thread,
        "pinned": related_of(message).pinned,
        "previews": [] if deleted else _previews(message),
        # End-to-end encrypted (docs/api.md): text and html are empty; the browser decrypts.
        "encrypted": message.key_id is not None,
        "ciphertext": None if deleted or message.key_id is None else message.ciphertext,
        "nonce": None if deleted or message.key_id is None else message.nonce,
        "key_id": None if deleted else message.key_id,
    }


def _previews(message: Message) -> list[dict[str, Any]]:
    links = related_of(message).previews
    return [{
        "url": link.preview.url, "title": link.preview.title,
        "description": link.preview.description, "site_name": link.preview.site_name,
        "image_url": f"/api/v1/previews/{link.preview_id}/image" if link.preview.image else None,
    } for link in links]


def conversation_payload(
    conversation: Conversation | ListedConversation,
    membership: Membership | ListedMembership | None = None,
    *,
    member_ids: list[int] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": conversation.pk,
        "kind": conversation.kind,
        "name": conversation.name,
        "topic": conversation.topic,
        "purpose": conversation.purpose,
        "created_by": conversation.created_by_id,
        "created_at": iso(conversation.created_at),
        "archived": conversation.archived_at is not None,
        "archived_at": iso(conversation.archived_at),
        "last_seq": conversation.last_seq,
        "last_message_at": iso(conversation.last_message_at),
        "is_member": membership is not None,
        "encrypted": conversation.encrypted,
        "default": conversation.is_default,  # new people join it (a public channel)
    }
    if member_ids is not None:
        data["members"] = member_ids
    if membership is not None:
        data["membership"] = {
            "role": membership.role,
            "last_read_message": membership.last_read_message_id or None,
            "last_read_seq": membership.last_read_seq,
            "notification_level": membership.notification_level,
            "muted": membership.muted,
            "starred": membership.starred,
        }
    return data


def scheduled_payload(scheduled: Any) -> dict[str, Any]:
    """A scheduled message (messaging.models.ScheduledMessage), as its author sees it."""
    return {
        "id": scheduled.pk,
        "conversation": scheduled.conversation_id,
        "thread_root": scheduled.thread_root_id,
        "text": scheduled.text,
        "send_at": iso(scheduled.send_at),
        "state": scheduled.state,
        "failure_code": scheduled.failure_code or None,
        "failure_reason": scheduled.failure_reason or None,
        "message": scheduled.message_id,
        "created_at": iso(scheduled.created_at),
        "updated_at": iso(scheduled.updated_at),
    }


def reminder_payload(reminder: Any, message: Message | None = None) -> dict[str, Any]:
    """A reminder (messaging.models.Reminder), with the message it is about when the
    person may see it (its payload), else null."""
    return {
        "id": reminder.pk,
        "message_id": reminder.message_id,
        "conversation": message.conversation_id if message is not None else None,
        "remind_at": iso(reminder.remind_at),
        "state": reminder.state,
        "created_at": iso(reminder.created_at),
        "delivered_at": iso(reminder.delivered_at),
        "message": message_payload(message) if message is not None else None,
    }
