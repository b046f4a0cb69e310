"""Signatures on outgoing webhook requests, and the reference verifier receivers use.

    X-Teamchat-Timestamp: 1764331200
    X-Teamchat-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the secret>

A receiver recomputes the HMAC over the raw body, compares in constant time, and refuses
timestamps more than five minutes from its clock (a replayed request is stale).
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *,
           now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True when the signature is ours and fresh."""
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - stamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature or "")
