"""Audit checkpoints as data: the signed payload, its JSON file, and checking a signature
with the organisation's Ed25519 public key. No database here: `audit_verify` reads a file
made by `audit_checkpoint --out` (or found in an export's manifest) with the same code."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CHECKPOINT_VERSION = 1
_SIGNED = ("version", "seq", "event_id", "head_hash", "count", "created_at", "key_fingerprint")


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    event_id: int
    head_hash: str
    count: int
    created_at: str  # ISO 8601, as signed
    key_fingerprint: str
    signature: str = ""
    version: int = CHECKPOINT_VERSION

    def payload(self) -> bytes:
        """The bytes the signature covers: canonical JSON of every field but the signature."""
        body = {name: getattr(self, name) for name in _SIGNED}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Checkpoint:
        """Raises ValueError naming what is missing or malformed."""
        if not isinstance(data, dict):
            raise ValueError("a checkpoint is a JSON object")
        if "audit_checkpoint" in data:  # an export's manifest carries it under this key
            data = data["audit_checkpoint"]
            if not isinstance(data, dict):
                raise ValueError("the manifest holds no checkpoint (none was signed before it)")
        missing = [name for name in (*_SIGNED, "signature") if name not in data]
        if missing:
            raise ValueError(f"the checkpoint lacks {', '.join(missing)}")
        if data["version"] != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint version {data['version']!r} is not one this server reads")
        try:
            return cls(seq=int(data["seq"]), event_id=int(data["event_id"]),
                       head_hash=str(data["head_hash"]), count=int(data["count"]),
                       created_at=str(data["created_at"]),
                       key_fingerprint=str(data["key_fingerprint"]),
                       signature=str(data["signature"]))
        except (TypeError, ValueError):
            raise ValueError("the checkpoint's seq, event_id and count must be numbers") from None

    @classmethod
    def from_row(cls, row: Any) -> Checkpoint:
        return cls(seq=row.seq, event_id=row.event_id, head_hash=row.head_hash, count=row.count,
                   created_at=row.created_at.isoformat(), key_fingerprint=row.key_fingerprint,
                   signature=row.signature)


def public_key_fingerprint(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()


def public_key_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(public_b64: str) -> str:
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def public_key_from_pem(pem: bytes) -> str:
    """The base64 raw key from a PEM file (as `audit_public_key` writes); ValueError if
    it is not an Ed25519 public key."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    return base64.b64encode(public_key_raw(key)).decode()


def sign(checkpoint: Checkpoint, private_key: Ed25519PrivateKey) -> str:
    return base64.b64encode(private_key.sign(checkpoint.payload())).decode()


def signature_valid(checkpoint: Checkpoint, public_b64: str) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))
        key.verify(base64.b64decode(checkpoint.signature, validate=True), checkpoint.payload())
    except (InvalidSignature, ValueError):
        return False
    return True
