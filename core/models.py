"""The ground floor's one table: the audit log, append-only, each row chained to the one
before it by hash. Every app records into it through core.audit.audit_record; the
compliance app reads and verifies it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    # The event's place in the chain, 1 for the first, without gaps: a missing number is
    # a missing event, and a checkpoint names the last one it covers (compliance).
    seq = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database constraint: the row must outlive anything it names, and the table
    # refuses UPDATE, so a cascading SET NULL could never run.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    conversation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        # The table kept the name it was created under in the compliance app.
        db_table = "compliance_auditevent"
        ordering = ["id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="compliance__target__4a30ae_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_label or '-'}"

    def canonical(self) -> dict[str, Any]:
        return {
            "created_at": self.created_at.isoformat(),
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "conversation_id": self.conversation_id,
            "ip_address": self.ip_address,
            "data": self.data,
        }

    def compute_hash(self) -> str:
        body = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(f"{self.prev_hash}\n{body}".encode()).hexdigest()
