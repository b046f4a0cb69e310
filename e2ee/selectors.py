"""Reads of end-to-end encryption, each filtered by what the acting person may see."""

from __future__ import annotations

from typing import Any

from accounts.models import Organisation, User
from accounts.selectors import user_get_for_user
from e2ee.models import ConversationKey, IdentityKey, WrappedKey
from e2ee.services import rotation_required
from messaging.models import Membership
from teamchat.errors import InvalidInput, NotFound


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def identity_key_mine(*, user: User) -> dict[str, Any]:
    """My current public key and the passphrase-wrapped backup of my private key."""
    key = IdentityKey.objects.filter(user=user, replaced_at__isnull=True).first()
    organisation = Organisation.get()
    return {
        "user": user.pk,
        "public_key": key.public_key if key else None,
        "fingerprint": key.fingerprint if key else None,
        "backup": key.backup if key else None,
        "created_at": _iso(key.created_at) if key else None,
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
        "created_at": _iso(current.created_at) if current else None,
        "history": [{"fingerprint": k.fingerprint, "created_at": _iso(k.created_at),
                     "replaced_at": _iso(k.replaced_at)} for k in keys],
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
    try:
        conversation_id = int(conversation_id)
    except (TypeError, ValueError):
        raise NotFound("No such conversation.") from None
    membership = (Membership.objects.select_related("conversation")
                  .filter(user=user, conversation_id=conversation_id).first())
    if membership is None:
        raise NotFound("No such conversation.")
    conversation = membership.conversation
    if not conversation.encrypted:
        raise InvalidInput("This conversation is not end-to-end encrypted.", code="not_encrypted")
    current = ConversationKey.objects.filter(conversation=conversation).order_by("-key_id").first()
    mine = (WrappedKey.objects.filter(conversation_key__conversation=conversation, user=user)
            .select_related("conversation_key", "identity_key").order_by("conversation_key__key_id"))
    member_ids = list(Membership.objects.filter(conversation=conversation)
                      .order_by("user_id").values_list("user_id", flat=True))
    identities = {k.user_id: k for k in IdentityKey.objects.filter(user_id__in=member_ids,
                                                                  replaced_at__isnull=True)}
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
                  "created_at": _iso(w.conversation_key.created_at)} for w in mine],
        "members": [{"user": uid, "public_key": identities[uid].public_key if uid in identities else None,
                     "fingerprint": identities[uid].fingerprint if uid in identities else None}
                    for uid in member_ids],
        "escrow": None if escrow is None else {
            **escrow, "missing": bool(current and current.escrow_fingerprint != escrow["fingerprint"])},
    }
