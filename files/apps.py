from django.apps import AppConfig


class FilesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "files"

    def ready(self) -> None:
        from accounts import avatars
        from files import delivery, images

        avatars.avatar_png.provide(images.avatar_png)
        avatars.avatar_response.provide(delivery.avatar_response)
