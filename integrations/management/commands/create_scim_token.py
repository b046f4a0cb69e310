from django.core.management.base import BaseCommand, CommandError

from core.errors import TeamchatError
from integrations.management.acting import acting_person, add_as_argument
from integrations.services.scim import scim_token_create


class Command(BaseCommand):
    help = ("Create a SCIM 2.0 token for an identity provider (Okta, Entra ID, Keycloak) and "
            "print it (shown once). It acts as the owner or admin named, and stops working "
            "when they are no longer one (docs/identity.md).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="what it is for, e.g. Okta")
        add_as_argument(parser, "it acts as")

    def handle(self, *args, name: str, actor: str = "", **options) -> None:
        person = acting_person(actor)
        try:
            _, raw = scim_token_create(actor=person, name=name)
        except TeamchatError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(raw)
