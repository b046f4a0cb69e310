from __future__ import annotations

import shutil
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from compliance import services
from compliance.models import ExportFormat
from core.errors import TeamchatError
from messaging.models import Conversation


def _day(value: str) -> datetime:
    try:
        return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time.min,
                                tzinfo=ZoneInfo("UTC"))
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = ("Export messages to a zip (JSON Lines, CSV or EML) with a manifest and SHA-256 "
            "checksums. --end is exclusive; dates are UTC days.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", required=True, help="day after the last, YYYY-MM-DD")
        parser.add_argument("--conversation", action="append", default=[],
                            help="channel name (repeatable)")
        parser.add_argument("--user", action="append", default=[], help="author email (repeatable)")
        parser.add_argument("--format", choices=ExportFormat.values, required=True)
        parser.add_argument("--with-files", action="store_true")
        parser.add_argument("--out", required=True, help="where to write the zip")

    def handle(self, *args, **options) -> None:
        conversations = []
        for name in options["conversation"]:
            found = Conversation.objects.filter(name__iexact=name.lstrip("#")).first()
            if found is None:
                raise CommandError(f"No channel named {name}.")
            conversations.append(found.pk)
        people = []
        for email in options["user"]:
            found = User.objects.filter(email__iexact=email).first()
            if found is None:
                raise CommandError(f"No person with the email {email}.")
            people.append(found.pk)
        try:
            job = services.export_start(
                actor=None, format=options["format"], start=_day(options["start"]),
                end=_day(options["end"]), conversation_ids=conversations, user_ids=people,
                with_files=options["with_files"], in_background=False)
            job = services.export_run(job_id=job.pk)
        except TeamchatError as error:
            raise CommandError(error.detail) from None
        out = Path(options["out"])
        with job.archive.open("rb") as source, out.open("wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
        self.stdout.write(self.style.SUCCESS(
            f"Exported {job.done} messages to {out} ({job.size} bytes, sha256 {job.sha256})."))
