"""Doing in Python what the browser does (e2ee/scheme.py is the same scheme), so the
server's side can be tested without a browser."""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accounts.models import Organisation, User
from e2ee import scheme, services
from e2ee.models import IdentityKey


def rsa_key() -> Any:
    """A 2048-bit RSA key (the browser makes 3072-bit ones; the server accepts both)."""
    return scheme.generate_rsa_key(2048)


def fake_backup() -> dict[str, Any]:
    """A backup of the right shape (the server cannot tell a real one from this)."""
    return {"kdf": "PBKDF2", "hash": "SHA-256", "iterations": 600_000, "salt": scheme.b64(os.urandom(16)),
            "cipher": "AES-GCM", "iv": scheme.b64(os.urandom(12)), "ciphertext": scheme.b64(os.urandom(1300))}


def publish(user: User, private_key: Any = None) -> Any:
    private_key = private_key or rsa_key()
    services.identity_key_set(user=user, public_key=scheme.public_spki_b64(private_key), backup=fake_backup())
    return private_key


def set_policy(policy: str, escrow_pem: str = "") -> None:
    organisation = Organisation.get()
    organisation.e2ee_policy = policy
    if escrow_pem:
        organisation.e2ee_escrow_public_key, organisation.e2ee_escrow_fingerprint = (
            scheme.escrow_key_from_text(escrow_pem))
    organisation.save()


def wrapped_for(users: list[User], raw_key: bytes) -> list[dict[str, Any]]:
    entries = []
    for user in users:
        identity = IdentityKey.objects.get(user=user, replaced_at__isnull=True)
        public = scheme.spki_from_base64(identity.public_key)[1]
        entries.append({"user": user.pk, "fingerprint": identity.fingerprint,
                        "wrapped_key": scheme.wrap_key(public, raw_key)})
    return entries


def escrow_entry(raw_key: bytes) -> dict[str, str] | None:
    organisation = Organisation.get()
    if not organisation.e2ee_escrow_fingerprint:
        return None
    public = scheme.spki_from_base64(scheme.b64(_pem_to_der(organisation.e2ee_escrow_public_key)))[1]
    return {"fingerprint": organisation.e2ee_escrow_fingerprint,
            "wrapped_key": scheme.wrap_key(public, raw_key)}


def _pem_to_der(pem: str) -> bytes:
    import base64

    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)


def start_key(actor: User, conversation: Any, members: list[User], key_id: int = 1) -> bytes:
    raw = AESGCM.generate_key(bit_length=256)
    services.conversation_key_create(actor=actor, conversation_id=conversation.pk, key_id=key_id,
                                     wrapped=wrapped_for(members, raw), escrow=escrow_entry(raw))
    return raw


def sealed(raw: bytes, conversation: Any, key_id: int, text: str,
           files: list | None = None) -> dict[str, Any]:
    return scheme.encrypt_message(raw, conversation.pk, key_id, {"v": 1, "text": text, "files": files or []})
