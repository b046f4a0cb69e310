from django.core.management.base import BaseCommand, CommandError

from core.errors import NotFound, TeamchatError
from integrations import services
from integrations.management.acting import acting_person, add_as_argument
from integrations.services.incoming import hook_url
from messaging.models import Conversation


class Command(BaseCommand):
    help = ("Create an incoming webhook posting into a channel and print its secret URL (shown "
            "once). It is created as an owner or admin, with their rights: the channel must be "
            "one they may see and add people to.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--conversation", required=True, help="channel name")
        parser.add_argument("--name", required=True, help="the name its messages carry")
        add_as_argument(parser, "who creates it")

    def handle(self, *args, conversation: str, name: str, actor: str = "", **options) -> None:
        person = acting_person(actor)
        label = conversation.lstrip("#")
        missing = CommandError(f"No channel named {label} that {person.email} can see.")
        channel = Conversation.objects.filter(name__iexact=label).exclude(name="").first()
        if channel is None:
            raise missing
        try:
            # The service checks that `person` may see the channel and add people to it,
            # and answers a channel they may not see as one that does not exist.
            _, raw = services.incoming_webhook_create(actor=person, conversation_id=channel.pk,
                                                      name=name)
        except NotFound:
            raise missing from None
        except TeamchatError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(hook_url(raw))
