"""Who may do what in a conversation. Pure functions of the person, the conversation and
their membership (None when they are not a member); services and selectors call them.

Where the existence of a conversation is itself secret (private, direct, and every
conversation a guest was not added to), a refusal to read is NotFound, never Forbidden.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import Organisation, User
from core.errors import Forbidden, InvalidInput, NotFound
from messaging.models import Conversation, ConversationKind, Membership, MembershipRole, Message


def can_view(user: User, conversation: Conversation, membership: Membership | None) -> bool:
    """Read history and receive events. Public channels are open to every employee;
    guests and bots see only what they were added to."""
    if not user.is_active:
        return False
    if membership is not None:
        return True
    return conversation.kind == ConversationKind.PUBLIC and not (user.is_guest or user.is_bot)


def require_view(user: User, conversation: Conversation, membership: Membership | None) -> None:
    if not can_view(user, conversation, membership):
        raise NotFound("No such conversation.")


def require_writable(conversation: Conversation) -> None:
    if conversation.is_archived:
        raise Forbidden("This conversation is archived; unarchive it first.", code="archived")


def require_participate(
    user: User, conversation: Conversation, membership: Membership | None
) -> None:
    """Post, react, pin: members only, and never in an archived conversation."""
    require_view(user, conversation, membership)
    if membership is None:
        raise Forbidden("Join this channel to take part in it.", code="not_a_member")
    require_writable(conversation)


def can_manage(user: User, conversation: Conversation, membership: Membership | None) -> bool:
    """Rename, archive, remove others: channel admins, and organisation owners and admins."""
    if not conversation.is_channel:
        return False
    if user.is_org_admin:
        return True
    return membership is not None and membership.role == MembershipRole.ADMIN


def require_manage(user: User, conversation: Conversation, membership: Membership | None,
                   what: str) -> None:
    require_view(user, conversation, membership)
    if not conversation.is_channel:
        raise InvalidInput(f"A direct conversation cannot {what}.", code="direct_conversation")
    if not can_manage(user, conversation, membership):
        raise Forbidden(f"Only channel admins and organisation admins may {what}.")


def require_edit_details(user: User, conversation: Conversation,
                         membership: Membership | None) -> None:
    """Topic and purpose: any member of a channel but a guest, or anyone who manages it."""
    require_view(user, conversation, membership)
    if not conversation.is_channel:
        raise InvalidInput("A direct conversation has no topic or purpose.",
                           code="direct_conversation")
    if can_manage(user, conversation, membership):
        return
    if membership is None or user.is_guest:
        raise Forbidden("Only members of this channel may change its topic and purpose.")


def require_add_members(user: User, conversation: Conversation,
                        membership: Membership | None) -> None:
    require_view(user, conversation, membership)
    if not conversation.is_channel:
        raise InvalidInput("People cannot be added to a direct conversation; start a new one.",
                           code="direct_conversation")
    require_writable(conversation)
    if user.is_org_admin:
        return
    if membership is None or user.is_guest:
        raise Forbidden("Only members of this channel (not guests) may add people.")


def require_remove_member(user: User, conversation: Conversation, membership: Membership | None,
                          target: User) -> None:
    if target.pk == user.pk:
        require_leave(user, conversation, membership)
        return
    require_manage(user, conversation, membership, "remove people")


def require_leave(user: User, conversation: Conversation, membership: Membership | None) -> None:
    require_view(user, conversation, membership)
    if not conversation.is_channel:
        raise InvalidInput("You cannot leave a direct conversation.", code="direct_conversation")
    if membership is None:
        raise InvalidInput("You are not a member of this channel.", code="not_a_member")


def require_join(user: User, conversation: Conversation, membership: Membership | None) -> None:
    require_view(user, conversation, membership)
    if conversation.kind != ConversationKind.PUBLIC:
        raise Forbidden("Private channels are joined by invitation.")
    require_writable(conversation)


def require_edit_message(user: User, message: Message, membership: Membership | None) -> None:
    """Only the author edits; within the organisation's window unless they are an admin."""
    conversation = message.conversation
    require_view(user, conversation, membership)
    if message.author_id != user.pk:
        raise Forbidden("Only the author may edit a message.")
    require_writable(conversation)
    if message.is_deleted:
        raise InvalidInput("A deleted message cannot be edited.", code="deleted")
    if user.is_org_admin:
        return
    window = Organisation.get().message_edit_window_seconds
    if window and timezone.now() - message.created_at > timedelta(seconds=window):
        raise Forbidden("The time to edit this message has passed.", code="edit_window_closed")


def require_delete_message(user: User, message: Message, membership: Membership | None) -> None:
    """The author; in channels also channel admins and organisation admins. Nobody
    moderates a direct conversation but its authors."""
    conversation = message.conversation
    require_view(user, conversation, membership)
    require_writable(conversation)
    if message.author_id == user.pk:
        return
    if conversation.is_channel and can_manage(user, conversation, membership):
        return
    raise Forbidden("Only the author or an admin may delete this message.")


def require_create_channel(user: User) -> None:
    if user.is_guest:
        raise Forbidden("Guests cannot create channels.")
