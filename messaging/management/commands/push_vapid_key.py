from django.core.management.base import BaseCommand

from messaging.services.push import vapid_public_key


class Command(BaseCommand):
    help = ("Print the VAPID public key push services know this installation by "
            "(generated on first use and kept, its private half encrypted with SECRET_KEY).")

    def handle(self, *args, **options) -> None:
        self.stdout.write(vapid_public_key())
