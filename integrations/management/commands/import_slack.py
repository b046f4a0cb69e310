from django.core.management.base import BaseCommand, CommandError

from core.errors import TeamchatError
from integrations import services
from integrations.management.acting import acting_person, add_as_argument
from integrations.slack_export import ExportRefused, read_export


class Command(BaseCommand):
    help = ("Import a Slack workspace export (the .zip from Slack's admin settings): people, "
            "channels, private channels, direct and group conversations with their whole "
            "history. The export is checked whole first and refused, changing nothing, if "
            "anything is wrong with it. Importing again changes nothing; an import stopped "
            "midway continues where it stopped. See docs/import.md.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("export", help="the export .zip")
        parser.add_argument("--files", default=None,
                            help="folder of the files' bytes, one folder (or file) per Slack "
                                 "file id (export files carry only links to them)")
        parser.add_argument("--dry-run", action="store_true",
                            help="report what would be created and every problem; change nothing")
        parser.add_argument("--only", nargs="+", default=[], metavar="CHANNEL",
                            help="import only these conversations (channel names or Slack ids)")
        add_as_argument(parser, "the import is recorded as")

    def handle(self, *args, export: str, files: str | None = None, dry_run: bool = False,
               only: list[str], actor: str = "", **options) -> None:
        self.verbosity = options.get("verbosity", 1)
        person = acting_person(actor)
        try:
            checked = read_export(export, only=only)
        except ExportRefused as refused:
            lines = [f"The export is refused{' (dry run)' if dry_run else ''}; nothing was "
                     f"changed. {len(refused.problems)} problem(s):"]
            lines += [f"  - {problem}" for problem in refused.problems]
            raise CommandError("\n".join(lines)) from None
        try:
            report = services.slack_import(actor=person, export=checked, files_dir=files,
                                           dry_run=dry_run, progress=self._progress)
        except TeamchatError as error:
            raise CommandError(error.detail) from None
        self.stdout.write("\n".join(report.lines(listing=dry_run or self.verbosity > 1)))

    def _progress(self, done: int, total: int) -> None:
        if self.verbosity > 1:
            self.stderr.write(f"{done}/{total} messages")
