"""Celery tasks of the accounts app."""

from __future__ import annotations

from celery import shared_task
from django.core.mail import send_mail
from django.template.loader import render_to_string

from accounts.models import Invitation
from accounts.services import INVITATION_LIFETIME, invitation_url
from core.text import one_line


@shared_task(bind=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email(self, invitation_id: int, raw_token: str) -> None:
    invitation = Invitation.objects.select_related("invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        return
    context = {
        "invitation": invitation,
        "url": invitation_url(raw_token),
        "days": INVITATION_LIFETIME.days,
    }
    send_mail(
        # One line whatever the name holds: a line break in a header is BadHeaderError.
        subject=one_line(f"{invitation.invited_by.display_name} invited you to teamchat"),
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


@shared_task(bind=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_plain_email(self, subject: str, body: str, to_email: str) -> None:
    send_mail(subject=one_line(subject), message=body, from_email=None, recipient_list=[to_email])


@shared_task
def expire_statuses() -> int:
    """Beat, every minute: custom statuses whose time has come are cleared."""
    from accounts.services import statuses_expire

    return statuses_expire()
