from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class MessagingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "messaging"
    realtime_handlers = "messaging.frames"  # realtime.registry

    def ready(self) -> None:
        from accounts import selectors as account_selectors
        from accounts.services import people
        from core import bus
        from files import selectors as file_selectors
        from messaging import selectors
        from messaging.search_index import ensure_search_index, register_sqlite_functions
        from messaging.services.conversations import default_channels_join

        account_selectors.people_sharing_a_conversation.provide(selectors.people_sharing_a_conversation)
        file_selectors.message_visible.provide(selectors.message_visible_to)
        people.bot_reach_visible.provide(selectors.member_reach_visible_to)
        bus.subscribe(people.PERSON_JOINED, default_channels_join)  # new people's channels

        post_migrate.connect(ensure_search_index, sender=self,
                             dispatch_uid="messaging.ensure_search_index")
        connection_created.connect(register_sqlite_functions,
                                   dispatch_uid="messaging.register_sqlite_functions")
