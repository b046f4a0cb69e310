"""End-to-end encryption is decided by the e2ee app, a floor above messaging: messaging
asks it through these hooks, which e2ee answers in E2eeConfig.ready(). Without e2ee
installed nothing is encrypted, and a request to encrypt is refused."""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput
from core.hooks import Hook


def _plain_only_decide(*, kind: str, requested: Any) -> bool:
    if requested:
        raise InvalidInput.for_field("encrypted", "End-to-end encryption is not available here.")
    return False


def _plain_only_sealed(*, conversation: Any, text: str, encrypted: Any) -> dict[str, Any]:
    if encrypted is not None:
        raise InvalidInput.for_field("ciphertext", "This conversation is not end-to-end "
                                     "encrypted; send text.", code="not_encrypted")
    return {}


# Whether the server may write plain text into the conversation (a call's record, say):
# (conversation) -> bool.
accepts_plain_text = Hook("messaging.accepts_plain_text", default=lambda conversation: True)
# Whether a new conversation is encrypted: (kind=, requested=) -> bool.
conversation_encryption_decide = Hook("messaging.conversation_encryption_decide",
                                      default=_plain_only_decide)
# The ciphertext fields a message or an edit stores, checked against its conversation
# (locked by the caller): (conversation=, text=, encrypted=) -> dict; {} for plain text.
message_sealed_fields = Hook("messaging.message_sealed_fields", default=_plain_only_sealed)
