"""Writes of end-to-end encryption: identity keys, conversation key versions and their
wrapped copies, and the checks messaging makes before it stores ciphertext. The server
never sees a private key, a passphrase or an unwrapped conversation key."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation, User
from core.audit import audit_record
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from e2ee import scheme
from e2ee.models import ConversationKey, IdentityKey, WrappedKey
from e2ee.selectors import (
    accepts_plain_text,
    current_identity_key,
    current_key,
    member_identity_keys,
    rotation_required,
)
from messaging import permissions
from messaging.events import event_record
from messaging.models import Conversation, ConversationKind, Membership
from messaging.services.conversations import lock_conversation, membership_of

MAX_CIPHERTEXT_CHARS = 80_000  # 40,000 characters of text, as JSON, AES-GCM and base64
MAX_WRAPPED_KEY_CHARS = 2048


# --- Policy ---------------------------------------------------------------------------

def conversation_encryption_decide(*, kind: str, requested: Any) -> bool:
    """Whether a new conversation is end-to-end encrypted, under the organisation's policy.
    `requested` is the creator's wish: True, False or None (no preference)."""
    if requested is not None and not isinstance(requested, bool):
        raise InvalidInput.for_field("encrypted", "Must be true or false.")
    if kind == ConversationKind.PUBLIC:
        if requested:
            raise InvalidInput.for_field(
                "encrypted", "Public channels cannot be end-to-end encrypted (anyone may join); "
                "make it private.")
        return False
    policy = Organisation.get().e2ee_policy
    if requested and policy == "off":
        raise Forbidden("End-to-end encryption is turned off for this organisation.",
                        code="encryption_off",
                        fields={"encrypted": ["End-to-end encryption is turned off."]})
    if kind == ConversationKind.DIRECT and policy == "required":
        if requested is False:
            raise Forbidden("This organisation requires direct conversations to be end-to-end "
                            "encrypted.", code="encryption_required",
                            fields={"encrypted": ["Required for direct conversations."]})
        return True
    return bool(requested)


def organisation_e2ee_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise the encryption settings of organisation_update."""
    cleaned: dict[str, Any] = {}
    if "e2ee_policy" in changes:
        if changes["e2ee_policy"] not in ("off", "allowed", "required"):
            raise InvalidInput.for_field("e2ee_policy", "Must be off, allowed or required.")
        cleaned["e2ee_policy"] = changes["e2ee_policy"]
    if "e2ee_escrow_public_key" in changes:
        text = changes["e2ee_escrow_public_key"]
        if not isinstance(text, str):
            raise InvalidInput.for_field("e2ee_escrow_public_key", "Must be text (PEM or JWK).")
        if text.strip():
            try:
                pem, fingerprint = scheme.escrow_key_from_text(text)
            except scheme.SchemeError as error:
                raise InvalidInput.for_field("e2ee_escrow_public_key", str(error)) from None
        else:
            pem, fingerprint = "", ""
        cleaned["e2ee_escrow_public_key"] = pem
        cleaned["e2ee_escrow_fingerprint"] = fingerprint
    return cleaned


# --- Identity keys --------------------------------------------------------------------

def identity_key_set(*, user: User, public_key: Any, backup: Any) -> IdentityKey:
    """Publish a person's public key with the passphrase-wrapped backup of its private key.
    The same public key with a new backup is a passphrase change; a different one replaces
    the key, and every encrypted conversation of theirs is told so (their clients warn)."""
    try:
        der, _ = scheme.spki_from_base64(public_key)
    except scheme.SchemeError as error:
        raise InvalidInput.for_field("public_key", str(error)) from None
    try:
        backup = scheme.clean_backup(backup)
    except scheme.SchemeError as error:
        raise InvalidInput.for_field("backup", str(error)) from None
    fingerprint = scheme.fingerprint(der)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one change at a time per person
        current = current_identity_key(user.pk)
        if current is not None and current.fingerprint == fingerprint:
            current.backup = backup
            current.save(update_fields=["backup"])
            audit_record(action="e2ee.key_backup_changed", actor=user, target=current,
                         data={"fingerprint": fingerprint})
            return current
        if current is not None:
            current.replaced_at = timezone.now()
            current.save(update_fields=["replaced_at"])
        key = IdentityKey.objects.create(user=user, public_key=scheme.b64(der), fingerprint=fingerprint,
                                         backup=backup)
        audit_record(action="e2ee.identity_key_changed" if current else "e2ee.identity_key_created",
                     actor=user, target=key,
                     data={"fingerprint": fingerprint,
                           "previous_fingerprint": current.fingerprint if current else None})
        conversation_ids = list(Membership.objects.filter(user=user, conversation__encrypted=True)
                                .order_by("conversation_id").values_list("conversation_id", flat=True))
        for conversation_id in conversation_ids:
            event_record(conversation=lock_conversation(conversation_id), event_type="e2ee.identity_key",
                         payload={"user": user.pk, "fingerprint": fingerprint,
                                  "changed": current is not None})
    return key


# --- Conversation keys ----------------------------------------------------------------

def _lock_encrypted(actor: User, conversation_id: Any) -> Conversation:
    try:
        conversation_id = int(conversation_id)
    except (TypeError, ValueError):
        raise NotFound("No such conversation.") from None
    conversation = lock_conversation(conversation_id)
    membership = membership_of(actor, conversation)
    if membership is None:
        raise NotFound("No such conversation.")
    permissions.require_participate(actor, conversation, membership)
    if not conversation.encrypted:
        raise InvalidInput("This conversation is not end-to-end encrypted.", code="not_encrypted")
    return conversation


def _clean_wrapped(wrapped: Any, members: dict[int, IdentityKey], field: str = "wrapped"
                   ) -> dict[int, tuple[IdentityKey, str]]:
    """[{user, fingerprint, wrapped_key}] checked against the members' current keys."""
    if not isinstance(wrapped, list):
        raise InvalidInput.for_field(field, "Must be a list of {user, fingerprint, wrapped_key}.")
    cleaned: dict[int, tuple[IdentityKey, str]] = {}
    for entry in wrapped:
        if not isinstance(entry, dict) or not isinstance(entry.get("user"), int):
            raise InvalidInput.for_field(field, "Each entry needs a user id, fingerprint and wrapped_key.")
        user_id = entry["user"]
        if user_id in cleaned:
            raise InvalidInput.for_field(field, f"Person {user_id} is named twice.")
        key = members.get(user_id)
        if key is None:
            raise InvalidInput.for_field(
                field, f"Person {user_id} is not a member with an encryption key.")
        if entry.get("fingerprint") != key.fingerprint:
            raise Conflict(f"Person {user_id}'s encryption key changed; fetch the keys again.",
                           code="key_changed", fields={field: ["A member's key changed."]})
        cleaned[user_id] = (key, _clean_wrapped_key(entry.get("wrapped_key"), field))
    return cleaned


def _clean_wrapped_key(value: Any, field: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_WRAPPED_KEY_CHARS:
        raise InvalidInput.for_field(field, "wrapped_key must be base64 text.")
    try:
        scheme.unb64(value, what="wrapped_key")
    except scheme.SchemeError as error:
        raise InvalidInput.for_field(field, str(error)) from None
    return value


def _clean_escrow(escrow: Any) -> tuple[str, str]:
    """(fingerprint, wrapped key) for the organisation's escrow key, or ("", "")."""
    organisation = Organisation.get()
    if not organisation.e2ee_escrow_fingerprint:
        if escrow not in (None, {}):
            raise InvalidInput.for_field("escrow", "The organisation has no escrow key; send null.")
        return "", ""
    if not isinstance(escrow, dict):
        raise InvalidInput.for_field("escrow", "The organisation keeps an escrow key: wrap the "
                                     "conversation key for it too ({fingerprint, wrapped_key}).")
    if escrow.get("fingerprint") != organisation.e2ee_escrow_fingerprint:
        raise Conflict("The escrow key changed; fetch the keys again.", code="key_changed",
                       fields={"escrow": ["The escrow key changed."]})
    return organisation.e2ee_escrow_fingerprint, _clean_wrapped_key(escrow.get("wrapped_key"), "escrow")


def conversation_key_create(*, actor: User, conversation_id: Any, key_id: Any, wrapped: Any,
                            escrow: Any = None) -> ConversationKey:
    """Start a new version of a conversation's key (the first, or a rotation), wrapped for
    every member who has an encryption key and for the escrow key when one is set."""
    if not isinstance(key_id, int) or key_id < 1:
        raise InvalidInput.for_field("key_id", "Must be a positive whole number.")
    with transaction.atomic():
        conversation = _lock_encrypted(actor, conversation_id)
        current = current_key(conversation)
        expected = current.key_id + 1 if current else 1
        if key_id != expected:
            raise Conflict(f"The next key is {expected}; fetch the keys again.", code="stale_key",
                           fields={"key_id": [f"Must be {expected}."]})
        members = member_identity_keys(conversation)
        entries = _clean_wrapped(wrapped, members)
        missing = set(members) - set(entries)
        if missing:
            raise Conflict("Wrap the key for every member with an encryption key; missing: "
                           f"{', '.join(str(m) for m in sorted(missing))}.", code="members_changed",
                           fields={"wrapped": ["Some members are missing."]})
        if actor.pk not in entries:
            raise InvalidInput.for_field("wrapped", "Publish your own encryption key first.")
        escrow_fingerprint, escrow_wrapped = _clean_escrow(escrow)
        key = ConversationKey.objects.create(conversation=conversation, key_id=key_id, created_by=actor,
                                             escrow_fingerprint=escrow_fingerprint,
                                             escrow_wrapped_key=escrow_wrapped)
        WrappedKey.objects.bulk_create(
            WrappedKey(conversation_key=key, user_id=user_id, identity_key=identity, wrapped_key=value)
            for user_id, (identity, value) in sorted(entries.items()))
        event_record(conversation=conversation, event_type="e2ee.key_rotated",
                     payload={"key_id": key_id, "by": actor.pk})
        audit_record(action="e2ee.conversation_key_created", actor=actor, target=conversation,
                     conversation_id=conversation.pk,
                     data={"key_id": key_id, "recipients": sorted(entries),
                           "escrow_fingerprint": escrow_fingerprint or None})
    return key


def conversation_key_share(*, actor: User, conversation_id: Any, key_id: Any, wrapped: Any,
                           escrow: Any = None) -> ConversationKey:
    """Give the current key to members who lack it (newcomers, new devices' new keys) and
    to the escrow key when it was set later. Only the current key is ever shared, so a
    newcomer reads from the moment they joined, never earlier."""
    with transaction.atomic():
        conversation = _lock_encrypted(actor, conversation_id)
        key = current_key(conversation)
        if key is None or key.key_id != key_id:
            raise Conflict("Only the current key can be shared; fetch the keys again.", code="stale_key",
                           fields={"key_id": [f"Must be {key.key_id if key else 'a new key (POST)'}."]})
        if rotation_required(key):
            raise Conflict("Someone who held this key left: start a new key instead.",
                           code="key_rotation_required")
        members = member_identity_keys(conversation)
        entries = _clean_wrapped(wrapped or [], members)
        held = dict(WrappedKey.objects.filter(conversation_key=key).values_list("user_id", "identity_key_id"))
        for user_id, (identity, _) in entries.items():
            if held.get(user_id) == identity.pk:
                raise InvalidInput.for_field("wrapped", f"Person {user_id} already has this key.")
        escrow_fingerprint, escrow_wrapped = ("", "") if escrow is None else _clean_escrow(escrow)
        if not entries and not escrow_wrapped:
            raise InvalidInput.for_field("wrapped", "Nothing to share.")
        for user_id, (identity, value) in entries.items():
            WrappedKey.objects.update_or_create(conversation_key=key, user_id=user_id,
                                                defaults={"identity_key": identity, "wrapped_key": value,
                                                          "created_at": timezone.now()})
        if escrow_wrapped:
            key.escrow_fingerprint, key.escrow_wrapped_key = escrow_fingerprint, escrow_wrapped
            key.save(update_fields=["escrow_fingerprint", "escrow_wrapped_key"])
        event_record(conversation=conversation, event_type="e2ee.key_shared",
                     payload={"key_id": key.key_id, "users": sorted(entries), "by": actor.pk})
        audit_record(action="e2ee.conversation_key_shared", actor=actor, target=conversation,
                     conversation_id=conversation.pk,
                     data={"key_id": key.key_id, "recipients": sorted(entries),
                           "escrow_fingerprint": escrow_fingerprint or None})
    return key


def conversation_key_request(*, actor: User, conversation_id: Any) -> None:
    """Ask the other members' clients to share the current key with me (I have none)."""
    with transaction.atomic():
        conversation = _lock_encrypted(actor, conversation_id)
        if current_identity_key(actor.pk) is None:
            raise InvalidInput("Publish your encryption key first (PUT me/keys/).", code="no_key")
        event_record(conversation=conversation, event_type="e2ee.key_requested",
                     payload={"user": actor.pk})


# --- Messages -------------------------------------------------------------------------

def message_sealed_fields(*, conversation: Conversation, text: str, encrypted: Any) -> dict[str, Any]:
    """The ciphertext fields a message (or an edit) stores, checked against the
    conversation. Call with the conversation row locked. Plain text in an encrypted
    conversation, ciphertext elsewhere, or ciphertext under any key but the current one
    are refused; nothing is stored."""
    if encrypted is None:
        if accepts_plain_text(conversation):
            return {}
        if conversation.encrypted:
            raise InvalidInput.for_field(
                "text", "This conversation is end-to-end encrypted: send ciphertext, nonce and "
                "key_id, never text.", code="encrypted_conversation")
        raise Forbidden("This organisation requires direct conversations to be end-to-end "
                        "encrypted; open an encrypted one.", code="encryption_required")
    if not conversation.encrypted:
        raise InvalidInput.for_field("ciphertext", "This conversation is not end-to-end encrypted; "
                                     "send text.", code="not_encrypted")
    if text:
        raise InvalidInput.for_field("text", "Must be empty in an encrypted conversation: the text "
                                     "travels inside the ciphertext.", code="encrypted_conversation")
    if not isinstance(encrypted, dict):
        raise InvalidInput.for_field("ciphertext", "Must be base64 text.")
    ciphertext, nonce, key_id = encrypted.get("ciphertext"), encrypted.get("nonce"), encrypted.get("key_id")
    if not isinstance(ciphertext, str) or len(ciphertext) > MAX_CIPHERTEXT_CHARS:
        raise InvalidInput.for_field("ciphertext", f"Must be base64 text of at most {MAX_CIPHERTEXT_CHARS} "
                                     "characters.")
    try:
        if len(scheme.unb64(ciphertext, what="ciphertext")) < 17:
            raise scheme.SchemeError("The ciphertext is too short for AES-GCM.")
    except scheme.SchemeError as error:
        raise InvalidInput.for_field("ciphertext", str(error)) from None
    try:
        if len(scheme.unb64(nonce, what="nonce")) != 12:
            raise scheme.SchemeError("The nonce must be 12 bytes.")
    except scheme.SchemeError as error:
        raise InvalidInput.for_field("nonce", str(error)) from None
    if not isinstance(key_id, int) or isinstance(key_id, bool):
        raise InvalidInput.for_field("key_id", "Must be the id of the conversation's current key.")
    key = current_key(conversation)
    if key is None:
        raise Conflict("This conversation has no key yet; create one first.", code="no_key",
                       fields={"key_id": ["No key yet."]})
    if key_id != key.key_id:
        raise Conflict(f"The conversation's current key is {key.key_id}; fetch the keys again.",
                       code="stale_key", fields={"key_id": [f"Must be {key.key_id}."]})
    if rotation_required(key):
        raise Conflict("Someone who held this key left: start a new key before sending.",
                       code="key_rotation_required", fields={"key_id": ["Rotate the key."]})
    return {"ciphertext": ciphertext, "nonce": nonce, "key_id": key_id}
