from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.models import User
from core.errors import TeamchatError


class Command(BaseCommand):
    help = "Create an API token for a person or bot and print it (it is shown only once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", default="command line")

    def handle(self, *args, email: str, name: str, **options) -> None:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No person with the email {email}.")
        try:
            _, raw = services.api_token_create(actor=user, user=user, name=name)
        except TeamchatError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(raw)
