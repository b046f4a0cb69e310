"""Who a management command acts as: the owner or admin named by `--as`, else the first
active owner (import_slack, create_incoming_webhook, create_scim_token)."""

from __future__ import annotations

from django.core.management.base import CommandError

from accounts.models import Role, User


def add_as_argument(parser, what: str) -> None:
    parser.add_argument("--as", dest="actor", default="",
                        help=f"email of the owner or admin {what} (default: the first active owner)")


def acting_person(email: str) -> User:
    if email:
        person = User.objects.filter(email__iexact=email, is_active=True, is_bot=False).first()
        if person is None:
            raise CommandError(f"No active person with the email {email}.")
        return person
    person = User.objects.filter(role=Role.OWNER, is_active=True, is_bot=False).order_by("pk").first()
    if person is None:
        raise CommandError("Create an owner first (manage.py createsuperuser).")
    return person
