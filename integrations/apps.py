from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"

    def ready(self) -> None:
        from core import bus
        from integrations.tasks import message_created
        from messaging.tasks import MESSAGE_CREATED

        bus.subscribe(MESSAGE_CREATED, message_created)
