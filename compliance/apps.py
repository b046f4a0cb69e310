from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "compliance"

    def ready(self) -> None:
        from compliance import checks  # noqa: F401  (registers the deploy checks)
        from compliance.tasks import message_created, message_edited
        from core import bus
        from messaging.tasks import MESSAGE_CREATED, MESSAGE_EDITED

        # Supervision: every new message and every edit, matched in a task after commit.
        bus.subscribe(MESSAGE_CREATED, message_created)
        bus.subscribe(MESSAGE_EDITED, message_edited)
