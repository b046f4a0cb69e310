"""Writes on conversations and memberships: create, update, archive, join, leave,
add and remove members, channel roles and personal preferences."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role, User
from core.audit import audit_record
from core.compiled import CompiledQuery
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.text import clean_name
from messaging import permissions
from messaging.encryption import conversation_encryption_decide
from messaging.events import event_record
from messaging.models import (
    Conversation,
    ConversationKind,
    Membership,
    MembershipRole,
    NotificationLevel,
)
from messaging.payloads import conversation_payload

CHANNEL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
DIRECT_MAX_PEOPLE = 9


# Compiled once: every send, edit and reaction starts with these two (core/compiled.py).
_locked_conversation = CompiledQuery(
    Conversation, lambda pk: Conversation.objects.select_for_update().filter(pk=pk)[:1],
    write=True)
_membership = CompiledQuery(
    Membership,
    lambda user_id, conversation_id: Membership.objects.filter(
        user_id=user_id, conversation_id=conversation_id)[:1],
    arity=2)


def lock_conversation(conversation_id: Any) -> Conversation:
    """The conversation row, locked until the transaction ends. Call inside atomic()."""
    try:
        conversation_id = int(conversation_id)
    except (TypeError, ValueError):
        raise NotFound("No such conversation.") from None
    if not -(2**63) <= conversation_id < 2**63:
        raise NotFound("No such conversation.")  # past any id the database holds
    conversation = _locked_conversation.first(conversation_id)
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def membership_of(user: User, conversation: Conversation) -> Membership | None:
    return _membership.first(user.pk, conversation.pk)


def clean_channel_name(name: str) -> str:
    cleaned = clean_name("name", name).strip().lstrip("#").lower()
    if not cleaned:
        raise InvalidInput.for_field("name", "A channel needs a name.")
    if not CHANNEL_NAME_RE.match(cleaned):
        raise InvalidInput.for_field(
            "name",
            "Use up to 80 lowercase letters, digits, hyphens and underscores, "
            "starting with a letter or digit (e.g. product-launch).",
        )
    return cleaned


def _clean_text_field(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput.for_field(field, "Must be text.")
    value = clean_name(field, value).strip()
    if len(value) > limit:
        raise InvalidInput.for_field(field, f"At most {limit} characters.")
    return value


def _active_users(user_ids: Iterable[Any], field: str) -> list[User]:
    ids: set[int] = set()
    for raw in user_ids:
        try:
            ids.add(int(raw))
        except (TypeError, ValueError):
            raise InvalidInput.for_field(field, f"{raw!r} is not a person's id.") from None
    users = list(User.objects.filter(pk__in=ids, is_active=True))
    missing = ids - {u.pk for u in users}
    if missing:
        raise InvalidInput.for_field(
            field, f"No active person with id {', '.join(str(i) for i in sorted(missing))}."
        )
    return users


def conversation_create(
    *,
    actor: User,
    kind: str,
    name: str = "",
    topic: str = "",
    purpose: str = "",
    member_ids: Iterable[Any] = (),
    encrypted: Any = None,
) -> Conversation:
    """Create a public or private channel; the creator becomes its admin. A private one
    may be end-to-end encrypted (`encrypted`), as the organisation's policy allows."""
    if kind not in (ConversationKind.PUBLIC, ConversationKind.PRIVATE):
        raise InvalidInput.for_field("kind", "Must be public or private (use direct for people).")
    permissions.require_create_channel(actor)
    encrypted = conversation_encryption_decide(kind=kind, requested=encrypted)
    name = clean_channel_name(name)
    topic = _clean_text_field("topic", topic, 250)
    purpose = _clean_text_field("purpose", purpose, 250)
    others = [u for u in _active_users(member_ids, "members") if u.pk != actor.pk]
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                kind=kind, name=name, topic=topic, purpose=purpose, created_by=actor,
                encrypted=encrypted,
            )
            memberships = [Membership(user=actor, conversation=conversation,
                                      role=MembershipRole.ADMIN)]
            memberships += [Membership(user=u, conversation=conversation) for u in others]
            Membership.objects.bulk_create(memberships)
            member_ids_sorted = sorted(m.user_id for m in memberships)
            conversation = lock_conversation(conversation.pk)
            event_record(
                conversation=conversation,
                event_type="conversation.created",
                payload={"data": conversation_payload(conversation, member_ids=member_ids_sorted)},
                subscribe_users=member_ids_sorted,
            )
            audit_record(action="conversation.created", actor=actor, target=conversation,
                         conversation_id=conversation.pk,
                         data={"kind": kind, "name": name, "members": member_ids_sorted,
                               **({"encrypted": True} if encrypted else {})})
    except IntegrityError:
        raise Conflict(f"A channel named #{name} already exists.",
                       fields={"name": ["Already taken."]}) from None
    return conversation


def conversation_direct_open(*, actor: User, member_ids: Iterable[Any],
                             encrypted: Any = None) -> tuple[Conversation, bool]:
    """The direct conversation of exactly these people (the actor included), created
    if it does not exist yet. Returns it and whether it was created. The same people may
    have a plain and an end-to-end encrypted one (`encrypted`, as the policy decides)."""
    encrypted = conversation_encryption_decide(kind=ConversationKind.DIRECT, requested=encrypted)
    people = _active_users(member_ids, "members")
    by_id = {u.pk: u for u in people}
    by_id[actor.pk] = actor
    if not 2 <= len(by_id) <= DIRECT_MAX_PEOPLE:
        raise InvalidInput.for_field(
            "members", f"A direct conversation has 2 to {DIRECT_MAX_PEOPLE} people, you included."
        )
    if actor.is_guest:
        _require_guest_knows(actor, [pk for pk in by_id if pk != actor.pk])
    key = ("e:" if encrypted else "") + ",".join(str(pk) for pk in sorted(by_id))
    existing = Conversation.objects.filter(direct_key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                kind=ConversationKind.DIRECT, direct_key=key, created_by=actor, encrypted=encrypted
            )
            Membership.objects.bulk_create(
                [Membership(user_id=pk, conversation=conversation) for pk in sorted(by_id)]
            )
            conversation = lock_conversation(conversation.pk)
            event_record(
                conversation=conversation,
                event_type="conversation.created",
                payload={"data": conversation_payload(conversation, member_ids=sorted(by_id))},
                subscribe_users=sorted(by_id),
            )
    except IntegrityError:
        # Someone opened the same conversation at the same moment: use theirs.
        return Conversation.objects.get(direct_key=key), False
    return conversation, True


def _require_guest_knows(guest: User, user_ids: list[int]) -> None:
    shared = set(
        Membership.objects.filter(
            conversation__memberships__user=guest, user_id__in=user_ids
        ).values_list("user_id", flat=True)
    )
    if set(user_ids) - shared:
        raise Forbidden("Guests may message only people they share a conversation with.")


def conversation_update(*, actor: User, conversation_id: int, **changes: Any) -> Conversation:
    """Rename, change topic or purpose, archive or unarchive (`archived`: bool), or make a
    public channel one new people join (`default`: bool; owners and admins)."""
    allowed = {"name", "topic", "purpose", "archived", "default"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.",
                           fields={f: ["Unknown field."] for f in unknown})
    if not changes:
        raise InvalidInput("Nothing to change.")
    try:
        with transaction.atomic():
            conversation = lock_conversation(conversation_id)
            membership = membership_of(actor, conversation)
            applied = _apply_conversation_changes(actor, conversation, membership, changes)
            if not applied:
                return conversation
            conversation.save(update_fields=[
                {"archived": "archived_at", "default": "is_default"}.get(field, field)
                for field in applied
            ])
            event_record(conversation=conversation, event_type="conversation.updated",
                         payload={"changes": applied, "by": actor.pk})
            audit_record(action="conversation.updated", actor=actor, target=conversation,
                         conversation_id=conversation.pk, data={"changes": applied})
    except IntegrityError:
        raise Conflict("A channel with that name already exists.",
                       fields={"name": ["Already taken."]}) from None
    return conversation


def _apply_conversation_changes(actor: User, conversation: Conversation,
                                membership: Membership | None,
                                changes: dict[str, Any]) -> dict[str, Any]:
    """Check each change against the person's rights and apply it to the row.

    Unarchiving comes first and archiving last, so one request may unarchive and rename,
    or rename and archive.
    """
    applied: dict[str, Any] = {}
    archived = changes.get("archived")
    if "archived" in changes:
        if not isinstance(archived, bool):
            raise InvalidInput.for_field("archived", "Must be true or false.")
        permissions.require_manage(actor, conversation, membership,
                                   "be archived" if archived else "be unarchived")
    if archived is False and conversation.is_archived:
        conversation.archived_at = None
        applied["archived"] = False
    if "default" in changes:
        default = changes["default"]
        if not isinstance(default, bool):
            raise InvalidInput.for_field("default", "Must be true or false.")
        if not actor.is_org_admin:
            raise Forbidden("Only owners and admins choose the channels new people join.")
        if default and conversation.kind != ConversationKind.PUBLIC:
            raise InvalidInput.for_field("default", "Only a public channel can be a default channel.")
        if default and conversation.is_archived:
            raise InvalidInput.for_field("default", "An archived channel cannot be a default channel.")
        if default != conversation.is_default:
            conversation.is_default = default
            applied["default"] = default
    if "name" in changes:
        permissions.require_manage(actor, conversation, membership, "be renamed")
        permissions.require_writable(conversation)
        name = clean_channel_name(changes["name"])
        if name != conversation.name:
            conversation.name = name
            applied["name"] = name
    for field in ("topic", "purpose"):
        if field in changes:
            permissions.require_edit_details(actor, conversation, membership)
            permissions.require_writable(conversation)
            value = _clean_text_field(field, changes[field], 250)
            if value != getattr(conversation, field):
                setattr(conversation, field, value)
                applied[field] = value
    if archived is True and not conversation.is_archived:
        conversation.archived_at = timezone.now()
        applied["archived"] = True
    return applied


def conversation_join(*, actor: User, conversation_id: int) -> Membership:
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        existing = membership_of(actor, conversation)
        permissions.require_join(actor, conversation, existing)
        if existing is not None:
            return existing
        membership = Membership.objects.create(
            user=actor, conversation=conversation, last_read_seq=conversation.last_seq
        )
        event_record(conversation=conversation, event_type="member.joined",
                     payload={"user": actor.pk, "by": actor.pk}, subscribe_users=[actor.pk])
        audit_record(action="membership.joined", actor=actor, target=conversation,
                     conversation_id=conversation.pk, data={"user": actor.pk})
    return membership


def default_channels_join(*, user_id: int) -> list[int]:
    """A person arrived (accounts.person_joined): they join every default channel that is
    not archived, as if they had joined themselves. Guests and bots join none. The ids of
    the channels joined."""
    person = (User.objects.filter(pk=user_id, is_active=True, is_bot=False)
              .exclude(role=Role.GUEST).first())
    if person is None:
        return []
    defaults = list(Conversation.objects.filter(
        is_default=True, kind=ConversationKind.PUBLIC, archived_at__isnull=True)
        .order_by("pk").values_list("pk", flat=True))
    for conversation_id in defaults:
        conversation_join(actor=person, conversation_id=conversation_id)
    return defaults


def membership_add(*, actor: User, conversation_id: int, user_id: Any) -> Membership:
    """Add a person to a channel. Adding someone already there changes nothing."""
    (user,) = _active_users([user_id], "user")
    return _member_add(actor, conversation_id, user)


def membership_add_bot(*, actor: User, conversation_id: Any, bot: User,
                       field: str = "conversation") -> Membership:
    """Bring an integration's bot (an incoming or outgoing webhook's, a slash command's)
    into a channel on `actor`'s behalf: the one door for every integration.

    The same checks as a person adding a member (membership_add): a conversation the actor
    may not see is NotFound, exactly like one that does not exist, and the actor must be
    allowed to add people there; the same `member.joined` event and `membership.added`
    audit row. Direct conversations (of two people or more) take no integration bot at
    all: that is refused as InvalidInput naming `field`, the caller's name for the
    conversation in its request.
    """
    if not (bot.is_bot and bot.is_active):
        raise InvalidInput.for_field("bot", "Only an active bot joins through an integration.")
    return _member_add(actor, conversation_id, bot, direct_field=field)


def _member_add(actor: User, conversation_id: Any, user: User, *,
                direct_field: str | None = None) -> Membership:
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        actor_membership = membership_of(actor, conversation)
        # Visibility first, so what answers for a conversation the actor may not see is
        # the NotFound of one that does not exist, whatever else is wrong.
        permissions.require_view(actor, conversation, actor_membership)
        if direct_field is not None and not conversation.is_channel:
            raise InvalidInput.for_field(
                direct_field, "Integrations cannot be added to a direct conversation; "
                              "choose a channel.", code="direct_conversation")
        permissions.require_add_members(actor, conversation, actor_membership)
        if user.is_guest and actor.is_guest:
            raise Forbidden("Guests cannot add people.")
        existing = membership_of(user, conversation)
        if existing is not None:
            existing.conversation = conversation
            return existing
        membership = Membership.objects.create(
            user=user, conversation=conversation, last_read_seq=conversation.last_seq
        )
        event_record(conversation=conversation, event_type="member.joined",
                     payload={"user": user.pk, "by": actor.pk}, subscribe_users=[user.pk])
        audit_record(action="membership.added", actor=actor, target=conversation,
                     conversation_id=conversation.pk, data={"user": user.pk})
    return membership


def membership_remove(*, actor: User, conversation_id: int, user_id: Any) -> None:
    """Remove a person from a channel (or leave it, when the person is the actor).

    Their sockets stop receiving the conversation's events with this event.
    """
    try:
        target_id = int(user_id)
    except (TypeError, ValueError):
        raise InvalidInput.for_field("user", f"{user_id!r} is not a person's id.") from None
    target = User.objects.filter(pk=target_id).first()
    if target is None:
        raise NotFound("No such person.")
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        actor_membership = membership_of(actor, conversation)
        permissions.require_remove_member(actor, conversation, actor_membership, target)
        target_membership = (actor_membership if target.pk == actor.pk
                             else membership_of(target, conversation))
        if target_membership is None:
            raise NotFound("That person is not a member of this conversation.")
        if conversation.is_archived and target.pk != actor.pk:
            permissions.require_writable(conversation)
        target_membership.delete()
        event_record(conversation=conversation, event_type="member.left",
                     payload={"user": target.pk, "by": actor.pk},
                     unsubscribe_users=[target.pk])
        audit_record(action="membership.left" if target.pk == actor.pk else "membership.removed",
                     actor=actor, target=conversation, conversation_id=conversation.pk,
                     data={"user": target.pk})


def conversation_leave(*, actor: User, conversation_id: int) -> None:
    membership_remove(actor=actor, conversation_id=conversation_id, user_id=actor.pk)


def membership_role_change(*, actor: User, conversation_id: int, user_id: Any,
                           role: str) -> Membership:
    if role not in MembershipRole.values:
        raise InvalidInput.for_field("role", f"Must be one of: {', '.join(MembershipRole.values)}.")
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        permissions.require_manage(actor, conversation, membership_of(actor, conversation),
                                   "change channel roles")
        membership = Membership.objects.filter(conversation=conversation, user_id=user_id).first()
        if membership is None:
            raise NotFound("That person is not a member of this conversation.")
        if membership.role == role:
            return membership
        if membership.user.is_guest and role == MembershipRole.ADMIN:
            raise InvalidInput.for_field("role", "Guests cannot be channel admins.")
        membership.role = role
        membership.save(update_fields=["role"])
        event_record(conversation=conversation, event_type="member.role_changed",
                     payload={"user": membership.user_id, "role": role, "by": actor.pk})
        audit_record(action="membership.role_changed", actor=actor, target=conversation,
                     conversation_id=conversation.pk,
                     data={"user": membership.user_id, "role": role})
    return membership


def membership_preferences_update(*, actor: User, conversation_id: int,
                                  **changes: Any) -> Membership:
    """A person's own settings for one conversation: notification level, mute, star."""
    allowed = {"notification_level", "muted", "starred"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.",
                           fields={f: ["Unknown field."] for f in unknown})
    membership = Membership.objects.filter(user=actor, conversation_id=conversation_id).first()
    if membership is None:
        raise NotFound("You are not a member of this conversation.")
    if "notification_level" in changes and changes["notification_level"] not in NotificationLevel.values:
        raise InvalidInput.for_field(
            "notification_level", f"Must be one of: {', '.join(NotificationLevel.values)}."
        )
    for flag in ("muted", "starred"):
        if flag in changes and not isinstance(changes[flag], bool):
            raise InvalidInput.for_field(flag, "Must be true or false.")
    for name, value in changes.items():
        setattr(membership, name, value)
    membership.save(update_fields=list(changes))
    return membership
