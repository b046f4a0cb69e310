from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from compliance import services
from compliance.checkpoints import public_key_pem


class Command(BaseCommand):
    help = ("Print the organisation's public key for audit checkpoints (PEM), made now if "
            "there is none yet. Keep a copy outside the server for audit_verify --public-key.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, help="the file to write (default: stdout)")

    def handle(self, *args, **options) -> None:
        key = services.audit_signing_key_ensure()
        pem = public_key_pem(key.public_key)
        if options["out"] is None:
            self.stdout.write(pem, ending="")
        else:
            options["out"].write_text(pem)
        self.stderr.write(f"SHA-256 fingerprint: {key.fingerprint}")
