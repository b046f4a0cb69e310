from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role, User
from core.errors import TeamchatError
from integrations.services.scim import scim_token_create


class Command(BaseCommand):
    help = ("Create a SCIM 2.0 token for an identity provider (Okta, Entra ID, Keycloak) and "
            "print it (shown once). It acts as the owner or admin named, and stops working "
            "when they are no longer one (docs/identity.md).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="what it is for, e.g. Okta")
        parser.add_argument("--as", dest="actor", default="",
                            help="email of the owner or admin it acts as (default: the first active owner)")

    def handle(self, *args, name: str, actor: str = "", **options) -> None:
        if actor:
            person = User.objects.filter(email__iexact=actor, is_active=True, is_bot=False).first()
            if person is None:
                raise CommandError(f"No active person with the email {actor}.")
        else:
            person = User.objects.filter(role=Role.OWNER, is_active=True, is_bot=False).order_by("pk").first()
            if person is None:
                raise CommandError("Create an owner first (manage.py createsuperuser).")
        try:
            _, raw = scim_token_create(actor=person, name=name)
        except TeamchatError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(raw)
