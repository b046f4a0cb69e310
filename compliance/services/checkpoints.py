"""Signed checkpoints of the audit chain: the organisation's signing key, made on first
need, and the checkpoints written by beat (every AUDIT_CHECKPOINT_EVERY_EVENTS events or
AUDIT_CHECKPOINT_EVERY_MINUTES minutes) or on demand (`manage.py audit_checkpoint`); and
each day a fresh one mailed to the compliance officers, a copy outside the database."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance.checkpoints import (
    Checkpoint,
    public_key_fingerprint,
    public_key_pem,
    public_key_raw,
    sign,
)
from compliance.models import AuditCheckpoint, AuditSigningKey
from compliance.selectors import audit_checkpoint_latest, audit_signing_key_get
from core.audit import audit_chain_lock, audit_record
from core.models import AuditEvent
from core.secrets import decrypt, encrypt


def audit_signing_key_ensure() -> AuditSigningKey:
    """The organisation's checkpoint key, made (and kept, its private half encrypted) the
    first time one is needed."""
    key = audit_signing_key_get()
    if key is not None:
        return key
    with transaction.atomic():
        audit_chain_lock()
        key = audit_signing_key_get()
        if key is None:
            private = Ed25519PrivateKey.generate()
            raw = public_key_raw(private.public_key())
            private_raw = private.private_bytes(serialization.Encoding.Raw,
                                                serialization.PrivateFormat.Raw,
                                                serialization.NoEncryption())
            key = AuditSigningKey.objects.create(
                public_key=base64.b64encode(raw).decode(),
                fingerprint=public_key_fingerprint(raw),
                private_key_encrypted=encrypt(base64.b64encode(private_raw).decode()))
    return key


def audit_checkpoint_write(*, force: bool = False) -> AuditCheckpoint | None:
    """Sign the chain's head now, when it has events past the newest checkpoint and either
    `force`, AUDIT_CHECKPOINT_EVERY_EVENTS of them, or AUDIT_CHECKPOINT_EVERY_MINUTES since
    that checkpoint. Answers the new checkpoint, or None when none was due."""
    key = audit_signing_key_ensure()
    private = Ed25519PrivateKey.from_private_bytes(
        base64.b64decode(decrypt(key.private_key_encrypted)))
    with transaction.atomic():
        audit_chain_lock()
        head = AuditEvent.objects.order_by("-id").only("id", "seq", "hash").first()
        newest = audit_checkpoint_latest()
        covered = newest.seq if newest else 0
        if head is None or head.seq <= covered:
            return None
        every = timedelta(minutes=settings.AUDIT_CHECKPOINT_EVERY_MINUTES)
        due = (force or head.seq - covered >= settings.AUDIT_CHECKPOINT_EVERY_EVENTS
               or newest is None or timezone.now() - newest.created_at >= every)
        if not due:
            return None
        now = timezone.now()
        unsigned = Checkpoint(seq=head.seq, event_id=head.id, head_hash=head.hash,
                              count=AuditEvent.objects.filter(id__lte=head.id).count(),
                              created_at=now.isoformat(),
                              key_fingerprint=key.fingerprint)
        try:
            with transaction.atomic():
                return AuditCheckpoint.objects.create(
                    seq=unsigned.seq, event_id=unsigned.event_id, head_hash=unsigned.head_hash,
                    count=unsigned.count,
                    created_at=now,
                    key_fingerprint=key.fingerprint, signature=sign(unsigned, private))
        except IntegrityError:  # another writer signed this head first
            return AuditCheckpoint.objects.get(seq=unsigned.seq)



CHECKPOINT_MAIL = """The audit log's newest signed checkpoint is attached ({name}): event {seq},
{count} events, head hash {head_hash}, signed {created_at} with the key {fingerprint}.

Keep this email (or the attachment) outside teamchat. Against it, anyone can check that
the audit log was neither edited nor cut short since:

    python manage.py audit_verify --checkpoint {name} --public-key teamchat-audit-public-key.pem

The public key is attached too; compare its fingerprint with the one in the console
(Console -> Audit log) and in earlier emails: it does not change.
"""


def audit_checkpoint_mail() -> AuditCheckpoint | None:
    """Sign the chain's head now and mail the checkpoint, with the public key, to every
    active compliance officer (beat, daily). None when there is no event or no officer."""
    from accounts.models import Role, User

    officers = list(User.objects.filter(role=Role.COMPLIANCE, is_active=True)
                    .order_by("pk").values_list("email", flat=True))
    if not officers:
        return None
    audit_checkpoint_write(force=True)
    row = audit_checkpoint_latest()
    if row is None:
        return None
    checkpoint = Checkpoint.from_row(row)
    key = audit_signing_key_ensure()
    name = f"teamchat-audit-checkpoint-{row.created_at:%Y-%m-%d}-{row.seq}.json"
    mail = EmailMessage(
        subject=f"teamchat audit checkpoint: event {row.seq}, {row.created_at:%Y-%m-%d}",
        body=CHECKPOINT_MAIL.format(name=name, seq=row.seq, count=row.count, head_hash=row.head_hash,
                                    created_at=row.created_at.isoformat(), fingerprint=key.fingerprint),
        to=officers)
    mail.attach(name, json.dumps(checkpoint.as_dict(), indent=2), "application/json")
    mail.attach("teamchat-audit-public-key.pem", public_key_pem(key.public_key), "application/x-pem-file")
    mail.send()
    audit_record(action="audit.checkpoint_mailed", target=row,
                 data={"seq": row.seq, "recipients": len(officers)})
    return row
