from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MessagingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "messaging"
    realtime_handlers = "messaging.frames"  # realtime.registry

    def ready(self) -> None:
        from messaging.search_index import ensure_search_index

        post_migrate.connect(ensure_search_index, sender=self,
                             dispatch_uid="messaging.ensure_search_index")
