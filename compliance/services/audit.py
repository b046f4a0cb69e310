"""Verifying the audit chain from the console: asked for by a records role, walked by a
Celery job with its progress on the row, the result appended to the chain it checked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from compliance.checkpoints import Checkpoint
from compliance.models import AuditVerification, VerificationStatus
from compliance.selectors import audit_chain_verify, audit_checkpoint_latest
from compliance.services.holds import require_records_role
from core.audit import audit_record
from core.errors import Conflict, NotFound
from core.models import AuditEvent

# A walk writes its progress after every batch; one silent this long lost its worker.
STALE_AFTER = timedelta(minutes=10)
BATCH = 1000


def audit_log_viewed(*, actor: User, filters: dict[str, Any], page: Any,
                     ip_address: str | None, via: str = "console", count: int | None = None,
                     ) -> AuditEvent:
    """Record a read of the audit log (`audit.viewed`), with the filters it used: in the
    console (`page`, its number) or through the API (`page`, where it went on from)."""
    data: dict[str, Any] = {"filters": {key: str(value) for key, value in filters.items()},
                            "page": page}
    if via != "console":
        data["via"] = via
    if count is not None:
        data["count"] = count
    return audit_record(action="audit.viewed", actor=actor, ip_address=ip_address, data=data)


def audit_verification_start(*, actor: User) -> AuditVerification:
    """Ask for a walk of the chain up to its newest event; a worker runs it after commit.
    One at a time: a second request while one waits or runs is refused (Conflict)."""
    require_records_role(actor, "verify the audit chain")
    with transaction.atomic():
        _expire_stale()
        up_to = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        total = AuditEvent.objects.filter(id__lte=up_to).count()
        try:
            with transaction.atomic():
                job = AuditVerification.objects.create(requested_by=actor, up_to_id=up_to,
                                                       total=total)
        except IntegrityError:
            raise Conflict("A verification of the audit chain is already under way.") from None
        audit_record(action="audit.verification_started", actor=actor, target=job,
                     data={"up_to": up_to, "total": total})
        transaction.on_commit(lambda: _schedule(job.pk))
    return job


def _schedule(job_id: int) -> None:
    from compliance.tasks import run_audit_verification

    run_audit_verification.delay(job_id)


def _expire_stale() -> None:
    AuditVerification.objects.filter(active=True, updated_at__lt=timezone.now() - STALE_AFTER).update(
        status=VerificationStatus.FAILED, active=None, finished_at=timezone.now(),
        reason="The worker stopped reporting; start the verification again.")


def audit_verification_run(*, job_id: int) -> AuditVerification:
    """Walk the chain for one request, writing progress as it goes, and record the result
    as an `audit.verified` event. Idempotent: a finished verification is left alone."""
    job = AuditVerification.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such verification.")
    if job.finished:
        return job
    rows = AuditVerification.objects.filter(pk=job.pk)
    rows.update(status=VerificationStatus.RUNNING, started_at=timezone.now(),
                updated_at=timezone.now(), checked=0)

    def progress(checked: int) -> None:
        rows.update(checked=checked, updated_at=timezone.now())

    # The newest checkpoint signed before the request: its head is within the walk.
    stored = audit_checkpoint_latest(made_before=job.created_at)
    checkpoint = Checkpoint.from_row(stored) if stored else None
    try:
        checked, chain_break = audit_chain_verify(batch_size=BATCH, up_to_id=job.up_to_id,
                                                  on_progress=progress, checkpoint=checkpoint)
    except Exception as error:
        rows.update(status=VerificationStatus.FAILED, active=None, finished_at=timezone.now(),
                    reason=str(error)[:2000])
        raise
    with transaction.atomic():
        job.refresh_from_db()
        job.checked = checked
        job.status = VerificationStatus.INTACT if chain_break is None else VerificationStatus.BROKEN
        job.broken_at = chain_break.event_id if chain_break else None
        job.reason = f"{chain_break.kind}: {chain_break.reason}" if chain_break else ""
        job.active = None
        job.finished_at = job.updated_at = timezone.now()
        job.save(update_fields=["checked", "status", "broken_at", "reason", "active",
                                "finished_at", "updated_at"])
        audit_record(action="audit.verified", actor=job.requested_by, target=job, data={
            "intact": chain_break is None, "checked": checked, "up_to": job.up_to_id,
            "broken_at": job.broken_at, "reason": job.reason or None,
            "kind": chain_break.kind if chain_break else None,
            "checkpoint": checkpoint.seq if checkpoint else None})
    return job
