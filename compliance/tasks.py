"""Celery tasks of the compliance app."""

from __future__ import annotations

from celery import shared_task

from compliance import services
from compliance.models import SupervisionPolicy


@shared_task
def run_export(job_id: int) -> int:
    return services.export_run(job_id=job_id).pk


@shared_task
def apply_retention() -> dict:
    return services.retention_apply().as_dict()


@shared_task
def remove_expired_exports() -> int:
    return services.exports_remove_expired()


@shared_task
def run_audit_verification(verification_id: int) -> str:
    return services.audit_verification_run(job_id=verification_id).status


@shared_task
def write_audit_checkpoint() -> int | None:
    checkpoint = services.audit_checkpoint_write()
    return checkpoint.seq if checkpoint else None


@shared_task
def run_daily_exports() -> list[str]:
    return [f"{row.day} {row.format}: {row.location or row.error}"
            for row in services.daily_exports_run()]


@shared_task
def mail_audit_checkpoint() -> int | None:
    checkpoint = services.audit_checkpoint_mail()
    return checkpoint.seq if checkpoint else None


@shared_task
def supervise_message(message_id: int, version: int = 0) -> int:
    return len(services.supervision_match(message_id=message_id, version=version))


def message_created(*, message_id: int, has_link: bool = False) -> None:
    """Subscribed to messaging.message_created (in the worker, after commit): matching
    runs in a task of its own, when any policy is in force."""
    if SupervisionPolicy.objects.filter(active=True).exists():
        supervise_message.delay(message_id, 0)


def message_edited(*, message_id: int, version: int) -> None:
    """Subscribed to messaging.message_edited."""
    if SupervisionPolicy.objects.filter(active=True).exists():
        supervise_message.delay(message_id, version)
