from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The ground floor: it holds the audit chain's table and imports no app."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "core"
