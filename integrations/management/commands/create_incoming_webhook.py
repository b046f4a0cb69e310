from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role, User
from core.errors import TeamchatError
from integrations import services
from integrations.services.incoming import hook_url
from messaging.models import Conversation


class Command(BaseCommand):
    help = "Create an incoming webhook posting into a channel and print its secret URL (shown once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--conversation", required=True, help="channel name")
        parser.add_argument("--name", required=True, help="the name its messages carry")

    def handle(self, *args, conversation: str, name: str, **options) -> None:
        channel = Conversation.objects.filter(name__iexact=conversation.lstrip("#")).first()
        if channel is None:
            raise CommandError(f"No channel named {conversation}.")
        owner = User.objects.filter(role=Role.OWNER, is_active=True).order_by("pk").first()
        if owner is None:
            raise CommandError("Create an owner first (manage.py createsuperuser).")
        try:
            _, raw = services.incoming_webhook_create(actor=owner, conversation_id=channel.pk,
                                                      name=name)
        except TeamchatError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(hook_url(raw))
