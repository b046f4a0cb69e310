"""Turn an export's end-to-end encrypted messages into plain JSON Lines, offline, with the
compliance escrow private key. Run it on the compliance team's own machine, never on the
server: the private key must not go there."""

from __future__ import annotations

import getpass
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from e2ee import scheme
from e2ee.export_decryption import ExportDecryptor, load_private_key


class Command(BaseCommand):
    help = ("Decrypt an export's end-to-end encrypted messages with the escrow private key, "
            "writing plain JSON Lines (docs/compliance.md). Needs no database.")
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("export", help="the export's zip (format jsonl)")
        parser.add_argument("--key", required=True, help="the escrow private key, PEM (PKCS#8 or PKCS#1)")
        parser.add_argument("--key-password", action="store_true",
                            help="the PEM is encrypted: ask for its password")
        parser.add_argument("--out", help="where to write the JSON Lines (default: standard output)")
        parser.add_argument("--files-dir", help="also decrypt the export's files into this folder")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            key_data = Path(options["key"]).read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read the key: {error}") from None
        password = getpass.getpass("Key password: ").encode() if options["key_password"] else None
        try:
            private_key = load_private_key(key_data, password)
            archive = zipfile.ZipFile(options["export"])
        except (scheme.SchemeError, OSError, zipfile.BadZipFile) as error:
            raise CommandError(str(error)) from None
        files_dir = Path(options["files_dir"]) if options["files_dir"] else None
        out = open(options["out"], "w", encoding="utf-8") if options["out"] else sys.stdout  # noqa: SIM115
        try:
            with archive:
                decryptor = ExportDecryptor(archive, private_key)
                for record in decryptor.records():
                    if files_dir is not None:
                        decryptor.write_files(record, files_dir)
                    record.pop("_file_keys", None)
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
        except scheme.SchemeError as error:
            raise CommandError(str(error)) from None
        finally:
            if out is not sys.stdout:
                out.close()
        stats = decryptor.stats
        self.stderr.write(f"{stats['messages']} messages, {stats['decrypted']} decrypted, "
                          f"{stats['failed']} could not be decrypted, {stats['files']} files written.")
        if stats["failed"]:
            raise CommandError(f"{stats['failed']} messages could not be decrypted (see decryption_error).")
