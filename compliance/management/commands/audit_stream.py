from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import services
from compliance.selectors import audit_stream_lag
from compliance.services.stream import configured_collectors
from compliance.stream import Collector
from core.errors import TeamchatError


class Command(BaseCommand):
    help = ("The audit stream to the SIEM collectors of AUDIT_STREAM_URL: how far behind each "
            "one is and why it last failed; --send sends now (as beat does every five seconds); "
            "--resend-from SEQ sends one collector everything again from that event on.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--send", action="store_true", help="send what is waiting, now")
        parser.add_argument("--resend-from", type=int, metavar="SEQ",
                            help="send again from this event number on (with --collector)")
        parser.add_argument("--collector", help="the collector's URL, as in AUDIT_STREAM_URL")

    def handle(self, *args, **options) -> None:
        collectors = configured_collectors()
        if not collectors:
            raise CommandError("AUDIT_STREAM_URL is not set: there is no stream.")
        if options["resend_from"] is not None:
            self._resend(collectors, options["collector"], options["resend_from"])
        if options["send"]:
            for run in services.audit_stream_send():
                if run.busy:
                    self.stdout.write(f"{run.collector}: another run is sending now")
                elif run.error:
                    self.stderr.write(f"{run.collector}: {run.error}")
                else:
                    self.stdout.write(f"{run.collector}: sent {run.events} events and "
                                      f"{run.checkpoints} checkpoints, up to event {run.seq}")
        failing = False
        for lag in audit_stream_lag(collectors=[c.name for c in collectors]):
            delivered = lag.delivered_at.isoformat() if lag.delivered_at else "never"
            self.stdout.write(f"{lag.collector}: sent up to event {lag.seq} (last write: "
                              f"{delivered}); {lag.events} events waiting, the oldest for "
                              f"{lag.seconds:.0f} s")
            if lag.last_error:
                failing = True
                self.stdout.write(f"  failing: {lag.last_error}")
        if failing:
            raise CommandError("The stream fails to reach a collector (above).")

    def _resend(self, collectors: list[Collector], url: str | None, seq: int) -> None:
        chosen = [c for c in collectors if url and url.strip() in (c.url, c.name)]
        if not chosen:
            raise CommandError("Name the collector with --collector, as in AUDIT_STREAM_URL: "
                               + ", ".join(c.url for c in collectors))
        try:
            cursor = services.audit_stream_resend_from(collector=chosen[0], seq=seq)
        except TeamchatError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(f"{cursor.collector}: will be sent everything after event {cursor.seq}.")
