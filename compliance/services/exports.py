"""Exports for eDiscovery and data-subject requests: requested by compliance officers (or
the operator at the command line), written by a Celery job, downloaded through an expiring
link, every step audited."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from accounts.models import User
from compliance.checkpoints import Checkpoint
from compliance.export_writers import WRITERS, ExportZip, write_actiance, write_eml, write_globalrelay
from compliance.models import ExportFormat, ExportJob, ExportStage, ExportStatus
from compliance.selectors import audit_checkpoint_latest
from compliance.services.archive import conversation_days
from compliance.services.holds import require_archive_reader
from core.audit import audit_record
from core.errors import InvalidInput, NotFound
from core.replica import replica_alias

EXPORT_VERSION = "teamchat-export/1"
DOWNLOAD_LINK_LIFETIME = timedelta(hours=24)
ARCHIVE_LIFETIME = timedelta(days=7)
BATCH = 1000
DOWNLOAD_SALT = "teamchat.compliance.export-download"
E2EE_SCHEME = "teamchat-e2ee/1 (RSA-OAEP-SHA256 wrapped AES-256-GCM; see docs/security.md)"


def export_start(*, actor: User | None, format: str, start: datetime | None = None,
                 end: datetime | None = None, conversation_ids: Iterable[Any] = (),
                 user_ids: Iterable[Any] = (), with_files: bool = False,
                 subject: User | None = None, in_background: bool = True,
                 via: str | None = None) -> ExportJob:
    """Ask for an export; a Celery job writes it after commit (or the caller runs it,
    when not `in_background`). `actor` None is the operator at the command line."""
    from messaging.models import Conversation

    if actor is not None:
        require_archive_reader(actor, "export the archive")
    if format not in ExportFormat.values:
        raise InvalidInput.for_field("format", f"Must be one of: {', '.join(ExportFormat.values)}.")
    if start and end and start >= end:
        raise InvalidInput.for_field("end", "Must come after the start.")
    conversations = list(Conversation.objects.filter(pk__in=list(conversation_ids)))
    people = list(User.objects.filter(pk__in=list(user_ids)))
    with transaction.atomic():
        job = ExportJob.objects.create(requested_by=actor, format=format, start=start, end=end,
                                       with_files=with_files, subject=subject)
        job.conversations.set(conversations)
        job.people.set(people)
        audit_record(action="export.requested", actor=actor, target=job,
                     data={**_filters(job),
                           "via": via or ("console" if actor else "command line")})
        if in_background:
            transaction.on_commit(lambda: _schedule(job.pk))
    return job


def _schedule(job_id: int) -> None:
    from compliance.tasks import run_export

    run_export.delay(job_id)


def _filters(job: ExportJob) -> dict[str, Any]:
    return {
        "format": job.format, "start": job.start.isoformat() if job.start else None,
        "end": job.end.isoformat() if job.end else None,
        "conversations": sorted(job.conversations.values_list("pk", flat=True)),
        "people": sorted(job.people.values_list("pk", flat=True)),
        "with_files": job.with_files, "subject": job.subject_id,
    }


def export_messages(job: ExportJob) -> QuerySet:
    """The messages an export holds, deleted ones included (the record keeps them)."""
    from messaging.models import Message

    messages = Message.objects.all()
    if job.subject_id:
        messages = messages.filter(author_id=job.subject_id)
    if job.start:
        messages = messages.filter(created_at__gte=job.start)
    if job.end:
        messages = messages.filter(created_at__lt=job.end)
    conversations = list(job.conversations.values_list("pk", flat=True))
    if conversations:
        messages = messages.filter(conversation_id__in=conversations)
    people = list(job.people.values_list("pk", flat=True))
    if people:
        messages = messages.filter(author_id__in=people)
    return messages


def _batches(messages: QuerySet) -> Iterator[Any]:
    """Messages in id order, a bounded batch at a time, with what their records need."""
    from files.models import Attachment
    from messaging.models import MessageRevision

    last = 0
    while True:
        # The heavy scan of a period that lies behind: the replica, where one is configured
        # (only here: the other queries of an export use `messages` as a subquery).
        batch = list(
            messages.using(replica_alias()).filter(pk__gt=last).order_by("pk")
            .select_related("author", "conversation")
            .prefetch_related(Prefetch("revisions", queryset=MessageRevision.objects.order_by("id")),
                              "reactions", "mentions",
                              Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
            [:BATCH]
        )
        if not batch:
            return
        yield from batch
        last = batch[-1].pk


def export_run(*, job_id: int) -> ExportJob:
    """Write the export's zip to storage, updating progress as it goes. Idempotent: a
    finished export is left alone."""
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such export.")
    if job.status == ExportStatus.DONE:
        return job
    messages = export_messages(job)
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, total=messages.count(),
                                               done=0, started_at=timezone.now(), error="",
                                               stage=ExportStage.MESSAGES)
    job.refresh_from_db()
    fd, path = tempfile.mkstemp(suffix=".zip", dir=settings.FILE_UPLOAD_TEMP_DIR)
    try:
        with os.fdopen(fd, "w+b") as stream:
            counts = _write(job, messages, stream)
            stream.flush()
            stream.seek(0)
            digest = hashlib.sha256()
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
            stream.seek(0)
            job.archive.save(f"export-{job.pk}.zip", File(stream), save=False)
        job.sha256 = digest.hexdigest()
        job.size = os.path.getsize(path)
        job.status = ExportStatus.DONE
        job.done = counts["messages"]
        job.finished_at = timezone.now()
        job.expires_at = job.finished_at + ARCHIVE_LIFETIME
        job.save(update_fields=["archive", "sha256", "size", "status", "done", "finished_at",
                                "expires_at"])
        audit_record(action="export.completed", actor=job.requested_by, target=job,
                     data={**counts, "sha256": job.sha256, "size": job.size})
    except Exception as error:
        ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.FAILED, error=str(error)[:2000],
                                                   finished_at=timezone.now())
        raise
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return job


def _write(job: ExportJob, messages: QuerySet, stream: Any) -> dict[str, int]:
    from files.models import Attachment
    from messaging.models import Membership

    archive = ExportZip(stream)
    counter = {"messages": 0}
    # About a hundred progress writes for a small export, one per 500 messages for a big one.
    step = max(1, min(500, job.total // 100))
    rows = ExportJob.objects.filter(pk=job.pk)

    def progress() -> None:
        counter["messages"] += 1
        if counter["messages"] % step == 0:
            rows.update(done=counter["messages"])

    attachments = Attachment.objects.filter(message__in=messages).order_by("pk")
    file_paths = ({a.pk: f"files/{a.pk}/{a.name}" for a in attachments.only("pk", "name")}
                  if job.with_files else {})
    if job.format in (ExportFormat.ACTIANCE, ExportFormat.GLOBALRELAY):
        days = conversation_days(job, messages, _batches, file_paths, progress)
        if job.format == ExportFormat.ACTIANCE:
            write_actiance(archive, days)
        else:
            write_globalrelay(archive, days, job.with_files)
    if job.format == ExportFormat.EML:
        members: dict[int, list[str]] = {}

        def members_of(conversation_id: int) -> list[str]:
            if conversation_id not in members:
                members[conversation_id] = list(Membership.objects.filter(
                    conversation_id=conversation_id).values_list("user__email", flat=True))
            return members[conversation_id]

        write_eml(archive, _batches(messages), members_of, job.with_files, progress)
    elif job.format != ExportFormat.GLOBALRELAY:  # Global Relay's emails carry their files
        if job.format in WRITERS:
            WRITERS[job.format](archive, _batches(messages), file_paths, progress)
        rows.update(done=counter["messages"], stage=ExportStage.FILES if job.with_files
                    else ExportStage.SEALING)
        for attachment in attachments.iterator(chunk_size=200) if job.with_files else ():
            with attachment.blob.open("rb") as blob:
                archive.copy(file_paths[attachment.pk], blob)
    rows.update(done=counter["messages"], stage=ExportStage.SEALING)
    if job.subject_id:
        archive.write_bytes("profile.json", json.dumps(subject_profile(job.subject), indent=2,
                                                       ensure_ascii=False).encode())
    encrypted = _write_e2ee_keys(archive, messages)
    counts = {"messages": counter["messages"],
              "files": (attachments.count() if job.format in (ExportFormat.EML, ExportFormat.GLOBALRELAY)
                        else len(file_paths))
              if job.with_files else 0}
    archive.close({
        "version": EXPORT_VERSION, "generated_at": timezone.now().isoformat(),
        "export_id": job.pk,
        "requested_by": job.requested_by.email if job.requested_by else "operator (command line)",
        "filters": _filters(job),
        "counts": counts, "encrypted_conversations": bool(encrypted),
        **({"encryption": encrypted} if encrypted else {}),
        # The newest signed checkpoint of the audit chain, a copy outside the database that
        # `audit_verify --checkpoint manifest.json` checks the log against.
        "audit_checkpoint": _latest_checkpoint(),
    })
    return counts


def _latest_checkpoint() -> dict[str, Any] | None:
    row = audit_checkpoint_latest()
    return Checkpoint.from_row(row).as_dict() if row else None


def _write_e2ee_keys(archive: ExportZip, messages: QuerySet) -> dict[str, Any]:
    """e2ee_keys.json: for each end-to-end encrypted conversation in the export, every key
    version wrapped for the escrow key and for each member. The server can open none of
    them; `manage.py decrypt_export --key` does, offline, with the escrow private key."""
    from e2ee.models import ConversationKey
    from messaging.models import Conversation

    conversations = Conversation.objects.filter(
        encrypted=True, pk__in=messages.values("conversation_id")).order_by("pk")
    if not conversations.exists():
        return {}
    keys: dict[str, Any] = {}
    for key in (ConversationKey.objects.filter(conversation__in=conversations)
                .prefetch_related("wrapped__identity_key").order_by("conversation_id", "key_id")):
        keys.setdefault(str(key.conversation_id), []).append({
            "key_id": key.key_id, "created_at": key.created_at.isoformat(),
            "created_by": key.created_by_id,
            "escrow_fingerprint": key.escrow_fingerprint or None,
            "escrow_wrapped_key": key.escrow_wrapped_key or None,
            "wrapped": [{"user": w.user_id, "fingerprint": w.identity_key.fingerprint,
                         "wrapped_key": w.wrapped_key} for w in key.wrapped.all()],
        })
    archive.write_bytes("e2ee_keys.json", json.dumps(
        {"scheme": E2EE_SCHEME, "conversations": keys}, indent=2).encode())
    return {"scheme": E2EE_SCHEME, "conversations": [c.pk for c in conversations],
            "keys": "e2ee_keys.json",
            "note": "Messages marked encrypted hold ciphertext only; decrypt offline with "
                    "manage.py decrypt_export --key ESCROW_PRIVATE_KEY.pem."}


def subject_profile(user: User) -> dict[str, Any]:
    """Everything teamchat holds about a person besides their messages."""
    from accounts.models import ApiToken
    from core.models import AuditEvent
    from e2ee.models import IdentityKey
    from messaging.models import (
        Draft,
        Membership,
        Reaction,
        Reminder,
        SavedMessage,
        ScheduledMessage,
        ThreadFollow,
    )

    fields = ["email", "display_name", "full_name", "title", "timezone", "role", "is_bot",
              "is_active", "status_text", "status_emoji", "notify_default", "email_notifications",
              "daily_digest", "share_read_receipts"]
    return {
        "id": user.pk,
        **{name: getattr(user, name) for name in fields},
        "date_joined": user.date_joined.isoformat(),
        "last_login": user.last_login.isoformat() if user.last_login else None,
        "has_avatar": bool(user.avatar),
        "memberships": [{"conversation": m.conversation_id, "role": m.role,
                         "joined_at": m.joined_at.isoformat()}
                        for m in Membership.objects.filter(user=user)],
        "reactions": [{"message": r.message_id, "emoji": r.emoji, "at": r.created_at.isoformat()}
                      for r in Reaction.objects.filter(user=user)],
        "saved_messages": list(SavedMessage.objects.filter(user=user)
                               .values_list("message_id", flat=True)),
        "followed_threads": [{"root": f.root_id, "following": f.following,
                              "last_read_reply": f.last_read_reply_id}
                             for f in ThreadFollow.objects.filter(user=user).order_by("id")],
        "drafts": [{"conversation": d.conversation_id, "thread_root": d.thread_root_id or None,
                    "text": d.text, "updated_at": d.updated_at.isoformat()}
                   for d in Draft.objects.filter(user=user)],
        "scheduled_messages": [{"conversation": s.conversation_id, "thread_root": s.thread_root_id,
                                "text": s.text, "send_at": s.send_at.isoformat(), "state": s.state,
                                "message": s.message_id}
                               for s in ScheduledMessage.objects.filter(author=user)],
        "reminders": [{"message": r.message_id, "remind_at": r.remind_at.isoformat(), "state": r.state}
                      for r in Reminder.objects.filter(user=user)],
        "api_tokens": [{"name": t.name, "prefix": t.prefix, "created_at": t.created_at.isoformat(),
                        "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
                       for t in ApiToken.objects.filter(user=user)],
        "audit_events": [{"at": e.created_at.isoformat(), "action": e.action,
                          "ip_address": e.ip_address}
                         for e in AuditEvent.objects.filter(actor_id=user.pk).order_by("id")[:10000]],
        # End-to-end encryption: every public key they published, and the backup of the
        # current private key (still sealed by their passphrase).
        "encryption_keys": [{"public_key": k.public_key, "fingerprint": k.fingerprint,
                             "created_at": k.created_at.isoformat(),
                             "replaced_at": k.replaced_at.isoformat() if k.replaced_at else None,
                             "backup": k.backup if k.replaced_at is None else None}
                            for k in IdentityKey.objects.filter(user=user).order_by("created_at", "pk")],
    }


def export_download_token(*, job: ExportJob) -> str:
    return signing.dumps({"job": job.pk}, salt=DOWNLOAD_SALT)


def export_for_download(*, actor: User, job_id: Any, token: str,
                        ip_address: str | None = None) -> ExportJob:
    """The export an expiring link names, checked and audited; NotFound otherwise."""
    require_archive_reader(actor, "download exports")
    try:
        data = signing.loads(token, salt=DOWNLOAD_SALT,
                             max_age=DOWNLOAD_LINK_LIFETIME.total_seconds())
    except signing.BadSignature:
        raise NotFound("This download link is not valid or has expired.") from None
    job = ExportJob.objects.filter(pk=job_id, status=ExportStatus.DONE).first()
    if job is None or data.get("job") != job.pk or not job.archive:
        raise NotFound("This export is not available.")
    if job.expires_at and job.expires_at < timezone.now():
        raise NotFound("This export has expired; run it again.")
    audit_record(action="export.downloaded", actor=actor, target=job, ip_address=ip_address,
                 data={"sha256": job.sha256, "size": job.size})
    return job


def exports_remove_expired(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    removed = 0
    for job in ExportJob.objects.filter(expires_at__lt=now).exclude(archive=""):
        job.archive.delete(save=False)
        ExportJob.objects.filter(pk=job.pk).update(archive="")
        removed += 1
    return removed

