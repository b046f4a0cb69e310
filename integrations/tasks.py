"""Celery tasks of the integrations app."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from integrations import services
from integrations.models import LdapSyncStatus
from integrations.services.outgoing import DeliveryFailed


@shared_task(bind=True, max_retries=6)
def deliver_webhook(self, delivery_id: int) -> None:
    """Send a delivery; retry with growing waits; after the last try, log it as failed."""
    try:
        services.delivery_attempt(delivery_id=delivery_id)
    except DeliveryFailed as error:
        if self.request.retries >= self.max_retries:
            services.delivery_give_up(delivery_id=delivery_id, error=str(error))
            return
        countdown = settings.WEBHOOK_RETRY_SECONDS * 2 ** self.request.retries
        raise self.retry(exc=error, countdown=countdown) from None


@shared_task
def make_link_previews(message_id: int) -> int:
    return len(services.message_previews_make(message_id=message_id))


def message_created(*, message_id: int, has_link: bool) -> None:
    """What integrations do with every new message (subscribed to
    messaging.message_created in IntegrationsConfig.ready)."""
    for delivery_id in services.deliveries_create(message_id=message_id):
        deliver_webhook.delay(delivery_id)
    if has_link:
        make_link_previews.delay(message_id)


@shared_task
def run_slack_import(run_id: int) -> str | None:
    run = services.slack_import_execute(run_id=run_id)
    return run.status if run is not None else None


@shared_task(bind=True, max_retries=5)
def ldap_sync(self) -> str:
    """The directory sync (beat, every LDAP_SYNC_INTERVAL_SECONDS). When the directory
    cannot be read nothing changed; try again after 1, 2, 4, 8 and 16 minutes."""
    run = services.ldap_sync()
    if run.status == LdapSyncStatus.FAILED and self.request.retries < self.max_retries:
        raise self.retry(countdown=60 * 2 ** self.request.retries)
    return run.status
