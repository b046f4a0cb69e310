"""Keys of end-to-end encrypted conversations. The server holds only public keys,
private keys wrapped by a passphrase it never sees, and conversation keys wrapped for
each member's public key (and the compliance escrow key); it can unwrap none of them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class IdentityKey(models.Model):
    """A person's public key (RSA-OAEP, SPKI DER in base64) and the passphrase-wrapped
    backup of its private half. Replaced, never edited: old rows keep the key history
    that key-change warnings and the audit log refer to."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="identity_keys")
    public_key = models.TextField()
    fingerprint = models.CharField(max_length=64)
    algorithm = models.CharField(max_length=40, default="RSA-OAEP-SHA256")
    # {kdf, hash, iterations, salt, iv, ciphertext}: the PKCS#8 private key under AES-GCM
    # with a key derived from the person's passphrase.
    backup = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    replaced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=Q(replaced_at__isnull=True),
                                    name="e2ee_one_current_identity_key"),
        ]

    def __str__(self) -> str:
        return f"key {self.fingerprint[:16]} of {self.user_id}"


class ConversationKey(models.Model):
    """One version of a conversation's AES-GCM key; the newest is the current one."""

    conversation = models.ForeignKey("messaging.Conversation", on_delete=models.CASCADE,
                                     related_name="e2ee_keys")
    key_id = models.PositiveIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # The key wrapped (RSA-OAEP) for the organisation's escrow public key, when one is set.
    escrow_fingerprint = models.CharField(max_length=64, blank=True)
    escrow_wrapped_key = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "key_id"], name="e2ee_conversation_key_unique"),
        ]

    def __str__(self) -> str:
        return f"key {self.key_id} of conversation {self.conversation_id}"


class WrappedKey(models.Model):
    """A conversation key wrapped for one member's identity key."""

    conversation_key = models.ForeignKey(ConversationKey, on_delete=models.CASCADE, related_name="wrapped")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    identity_key = models.ForeignKey(IdentityKey, on_delete=models.CASCADE, related_name="+")
    wrapped_key = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation_key", "user"], name="e2ee_wrapped_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_key} for {self.user_id}"
