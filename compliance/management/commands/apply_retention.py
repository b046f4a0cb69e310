import json

from django.core.management.base import BaseCommand

from compliance import services


class Command(BaseCommand):
    help = "Apply the retention policies now (the nightly job does it too)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true",
                            help="report what would be removed and change nothing")

    def handle(self, *args, dry_run: bool, **options) -> None:
        report = services.retention_apply(dry_run=dry_run)
        verb = "Would remove" if dry_run else "Removed"
        self.stdout.write(f"{verb} {report.messages} messages, {report.revisions} earlier "
                          f"versions and {report.files} files; {report.held} kept by legal holds.")
        self.stdout.write(json.dumps(report.as_dict(), indent=2))
