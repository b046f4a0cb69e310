"""Celery tasks of the compliance app."""

from __future__ import annotations

from celery import shared_task

from compliance import services


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
