import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import services
from compliance.checkpoints import Checkpoint
from compliance.selectors import audit_checkpoint_latest


class Command(BaseCommand):
    help = ("Sign a checkpoint of the audit chain's head now (unless the newest one is still "
            "the head) and write it as JSON, to keep outside the database.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, help="the file to write (default: stdout)")

    def handle(self, *args, **options) -> None:
        row = services.audit_checkpoint_write(force=True) or audit_checkpoint_latest()
        if row is None:
            raise CommandError("The audit log is empty: there is nothing to sign yet.")
        text = json.dumps(Checkpoint.from_row(row).as_dict(), indent=2, sort_keys=True) + "\n"
        if options["out"] is None:
            self.stdout.write(text, ending="")
            return
        options["out"].write_text(text)
        self.stderr.write(f"Checkpoint number {row.seq} written to {options['out']}.")
