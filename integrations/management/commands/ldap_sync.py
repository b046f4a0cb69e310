from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations.models import LdapSyncStatus
from integrations.services import ldap_sync


class Command(BaseCommand):
    help = ("Bring the people the LDAP directory manages in line with it now: deactivate those "
            "who left, reactivate those who came back, update names, roles and mapped groups "
            "(docs/identity.md). With --dry-run, only show what would change.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true",
                            help="change nothing; print what the sync would change")

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        if not settings.LDAP_ENABLED:
            raise CommandError("LDAP is not configured (set LDAP_SERVER_URI; docs/identity.md).")
        run = ldap_sync(dry_run=dry_run)
        if run.status == LdapSyncStatus.FAILED:
            raise CommandError(f"{run.errors[0]} Nothing was changed.")
        verb = "Would" if dry_run else "Did"
        for line in run.changes:
            self.stdout.write(f"{verb}: {line}")
        for line in run.errors:
            self.stderr.write(f"Problem: {line}")
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(run.counts.items()))
        summary = "Dry run, nothing changed" if dry_run else "Done"
        self.stdout.write(f"{summary}: {counts or 'nobody linked'}.")
