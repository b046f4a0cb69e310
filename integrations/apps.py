from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"

    def ready(self) -> None:
        from core import bus
        from integrations.selectors import message_link_previews
        from integrations.tasks import message_created
        from messaging import selectors as messaging_selectors
        from messaging.tasks import MESSAGE_CREATED

        bus.subscribe(MESSAGE_CREATED, message_created)
        messaging_selectors.link_previews_of.provide(message_link_previews)
