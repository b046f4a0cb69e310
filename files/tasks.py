"""Celery tasks of the files app."""

from __future__ import annotations

from celery import shared_task

from files import services


@shared_task(bind=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def process_attachment(self, attachment_id: int) -> None:
    services.attachment_process(attachment_id=attachment_id)


@shared_task
def remove_unattached() -> int:
    return services.attachments_remove_unattached()
