import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.checkpoints import Checkpoint, public_key_from_pem
from compliance.selectors import audit_chain_verify, audit_checkpoint_latest


class Command(BaseCommand):
    help = ("Walk the audit log's hash chain and name the first thing that does not fit: an "
            "edited row, a gap, a truncated tail, a restarted chain, a checkpoint whose "
            "signature fails. Checks against a checkpoint file, or the newest stored one.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoint", type=Path, help="a checkpoint JSON file "
                            "(audit_checkpoint --out) or an export's manifest.json")
        parser.add_argument("--public-key", type=Path, help="the organisation's public key "
                            "(PEM, from audit_public_key) kept outside the database; by "
                            "default the key stored in the database")

    def handle(self, *args, **options) -> None:
        checkpoint = self._checkpoint(options["checkpoint"])
        public_key = None
        if options["public_key"]:
            try:
                public_key = public_key_from_pem(options["public_key"].read_bytes())
            except (OSError, ValueError) as error:
                raise CommandError(f"Cannot read the public key: {error}") from None
        checked, chain_break = audit_chain_verify(checkpoint=checkpoint, public_key=public_key)
        if chain_break is not None:
            where = f" at event {chain_break.event_id}" if chain_break.event_id else ""
            raise CommandError(f"Audit chain broken{where} ({chain_break.kind}): "
                               f"{chain_break.reason} ({checked} events before it verified).")
        anchored = (f", through checkpoint number {checkpoint.seq} of {checkpoint.created_at}"
                    if checkpoint else "")
        self.stdout.write(self.style.SUCCESS(
            f"Audit chain intact: {checked} events verified{anchored}."))

    def _checkpoint(self, path: Path | None) -> Checkpoint | None:
        if path is not None:
            try:
                return Checkpoint.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError) as error:
                raise CommandError(f"Cannot read the checkpoint {path}: {error}") from None
        row = audit_checkpoint_latest()
        if row is None:
            self.stderr.write("No checkpoint is stored yet: only the chain itself is checked, "
                              "which cannot tell a cut tail from a short log.")
            return None
        self.stderr.write(f"Using the newest stored checkpoint (number {row.seq}). Whoever can "
                          "delete the log can delete it too: check against a copy kept "
                          "elsewhere with --checkpoint FILE.")
        return Checkpoint.from_row(row)
