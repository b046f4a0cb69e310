from django.apps import AppConfig


class E2eeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "e2ee"
    verbose_name = "End-to-end encryption"

    def ready(self) -> None:
        from accounts.services import people
        from e2ee import selectors, services
        from messaging import encryption

        people.organisation_e2ee_changes.provide(services.organisation_e2ee_changes)
        encryption.accepts_plain_text.provide(selectors.accepts_plain_text)
        encryption.conversation_encryption_decide.provide(services.conversation_encryption_decide)
        encryption.message_sealed_fields.provide(services.message_sealed_fields)
