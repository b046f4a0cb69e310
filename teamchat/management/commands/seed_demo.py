from django.core.management.base import BaseCommand

from teamchat.demo import seed_demo


class Command(BaseCommand):
    help = "On an empty database, create a demo organisation and print the owner's sign-in."

    def handle(self, *args, **options) -> None:
        created = seed_demo()
        if created is None:
            self.stdout.write("The database already has people; no demo data added.")
        else:
            self.stdout.write(self.style.SUCCESS("Demo organisation created."))
            self.stdout.write(created)
