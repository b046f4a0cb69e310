from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    realtime_handlers = "accounts.frames"  # realtime.registry

    def ready(self) -> None:
        from accounts import (  # noqa: F401  (connect receivers, register schema extensions)
            schema,
            signals,
        )
