"""Reads of end-to-end encryption, each filtered by what the acting person may see."""

from __future__ import annotations

from typing import Any

from accounts.models import Organisation, User
from accounts.selectors import user_get_for_user
from core.errors import InvalidInput, NotFound
from e2ee.models import ConversationKey, IdentityKey, WrappedKey
from messaging.models import Conversation, ConversationKind, Membership
from messaging.payloads import iso
from messaging.selectors import conversation_get_for_user


def accepts_plain_text(conversation: Conversation) -> bool:
    """Whether the server may store a message's text here: not in an end-to-end encrypted
    conversation, nor in a plain direct one once the policy requires encryption."""
    if conversation.encrypted:
        return False
    return not (conversation.kind == ConversationKind.DIRECT
                and Organisation.get().e2ee_policy == "required")


def current_identity_key(user_id: int) -> IdentityKey | None:
    return IdentityKey.objects.filter(user_id=user_id, replaced_at__isnull=True).first()


def member_identity_keys(conversation: Conversation) -> dict[int, IdentityKey]:
    """The current encryption key of each member who has one, by user id."""
    members = Membership.objects.filter(conversation=conversation).values("user_id")
    return {key.user_id: key for key in IdentityKey.objects.filter(user_id__in=members,
                                                                  replaced_at__isnull=True)}


def current_key(conversation: Conversation) -> ConversationKey | None:
    return ConversationKey.objects.filter(conversation=conversation).order_by("-key_id").first()


def rotation_required(key: ConversationKey) -> bool:
    """Someone holding the current key is no longer a member: it must not be used again."""
    members = Membership.objects.filter(conversation_id=key.conversation_id).values("user_id")
    return WrappedKey.objects.filter(conversation_key=key).exclude(user_id__in=members).exists()


def identity_key_mine(*, user: User) -> dict[str, Any]:
    """My current public key and the passphrase-wrapped backup of my private key."""
    key = current_identity_key(user.pk)
    organisation = Organisation.get()
    return {
        "user": user.pk,
        "public_key": key.public_key if key else None,
        "fingerprint": key.fingerprint if key else None,
        "backup": key.backup if key else None,
        "created_at": iso(key.created_at) if key else None,
        "policy": organisation.e2ee_policy,
        "escrow": _escrow(organisation),
    }


def identity_key_get_for_user(*, viewer: User, user_id: Any) -> dict[str, Any]:
    """A person's public key and key history, for anyone who may see them in the directory."""
    try:
        user = user_get_for_user(viewer=viewer, user_id=int(user_id))
    except (TypeError, ValueError):
        raise NotFound("No such person.") from None
    keys = list(IdentityKey.objects.filter(user=user).order_by("-created_at", "-pk"))
    current = keys[0] if keys and keys[0].replaced_at is None else None
    return {
        "user": user.pk,
        "public_key": current.public_key if current else None,
        "fingerprint": current.fingerprint if current else None,
        "created_at": iso(current.created_at) if current else None,
        "history": [{"fingerprint": k.fingerprint, "created_at": iso(k.created_at),
                     "replaced_at": iso(k.replaced_at)} for k in keys],
    }


def _escrow(organisation: Organisation) -> dict[str, str] | None:
    if not organisation.e2ee_escrow_fingerprint:
        return None
    return {"public_key": organisation.e2ee_escrow_public_key,
            "fingerprint": organisation.e2ee_escrow_fingerprint}


def conversation_keys_get_for_user(*, user: User, conversation_id: Any) -> dict[str, Any]:
    """The conversation keys wrapped for me, the members' public keys to wrap new ones for,
    and what needs doing (members missing the current key, a rotation). Members only:
    anyone else, admins and compliance officers included, gets 404."""
    conversation, membership = conversation_get_for_user(user=user, conversation_id=conversation_id)
    if membership is None:
        raise NotFound("No such conversation.")
    if not conversation.encrypted:
        raise InvalidInput("This conversation is not end-to-end encrypted.", code="not_encrypted")
    current = current_key(conversation)
    mine = (WrappedKey.objects.filter(conversation_key__conversation=conversation, user=user)
            .select_related("conversation_key", "identity_key").order_by("conversation_key__key_id"))
    member_ids = list(Membership.objects.filter(conversation=conversation)
                      .order_by("user_id").values_list("user_id", flat=True))
    identities = member_identity_keys(conversation)
    held = (dict(WrappedKey.objects.filter(conversation_key=current)
                 .values_list("user_id", "identity_key_id")) if current else {})
    organisation = Organisation.get()
    escrow = _escrow(organisation)
    return {
        "conversation": conversation.pk,
        "encrypted": True,
        "current_key_id": current.key_id if current else None,
        "rotation_required": bool(current and rotation_required(current)),
        "missing": [uid for uid in member_ids if uid in identities and held.get(uid) != identities[uid].pk]
        if current else [],
        "keys": [{"key_id": w.conversation_key.key_id, "wrapped_key": w.wrapped_key,
                  "fingerprint": w.identity_key.fingerprint,
                  "created_at": iso(w.conversation_key.created_at)} for w in mine],
        "members": [{"user": uid, "public_key": identities[uid].public_key if uid in identities else None,
                     "fingerprint": identities[uid].fingerprint if uid in identities else None}
                    for uid in member_ids],
        "escrow": None if escrow is None else {
            **escrow, "missing": bool(current and current.escrow_fingerprint != escrow["fingerprint"])},
    }
