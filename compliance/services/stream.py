"""The audit stream to SIEM collectors (AUDIT_STREAM_URL): the log itself is the outbox.
Each collector has a cursor row, the last event (and checkpoint) written to it; a run of
the sender (beat, every five seconds) writes everything after it in `seq` order, batch by
batch, and moves the cursor after each batch's write succeeded. A collector that was away
receives what it missed when it is back; nothing is lost and nothing is skipped.

Delivery is at least once: a batch whose write failed part-way is written again whole,
so a collector may see an event twice after a broken connection, never a gap; each record
carries its `seq` to tell. Appends to the log are serialised until their commit
(core.audit.audit_chain_lock), so events become visible in `seq` order and reading after
the cursor never steps over one still to come.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compliance.checkpoints import Checkpoint
from compliance.models import AuditCheckpoint, AuditStreamCursor
from compliance.payloads import audit_checkpoint_record, audit_event_record
from compliance.stream import Collector, Connection, StreamError, encode, parse_collector, tls_context
from core.audit import audit_record
from core.errors import Conflict, InvalidInput
from core.models import AuditEvent

logger = logging.getLogger(__name__)

# A sender renews its lease with every batch; one silent this long lost its worker, and the
# next run takes over from the cursor.
LEASE = timedelta(seconds=60)
# A run stops after this long and leaves the rest to the next one, well inside its lease.
RUN_SECONDS = 30.0


@dataclass(frozen=True)
class StreamRun:
    collector: str
    events: int = 0
    checkpoints: int = 0
    seq: int = 0  # the cursor after the run
    error: str = ""
    busy: bool = False  # another run holds the cursor's lease

    def as_dict(self) -> dict:
        return {"collector": self.collector, "events": self.events,
                "checkpoints": self.checkpoints, "seq": self.seq, "error": self.error,
                "busy": self.busy}


def configured_collectors() -> list[Collector]:
    """The collectors of AUDIT_STREAM_URL (a malformed one is refused by `manage.py check`)."""
    return [parse_collector(url) for url in settings.AUDIT_STREAM_URL if url.strip()]


def audit_stream_send() -> list[StreamRun]:
    """One run of the sender for every configured collector, one after the other."""
    return [audit_stream_send_to(collector=collector) for collector in configured_collectors()]


def audit_stream_send_to(*, collector: Collector) -> StreamRun:
    """Write everything after the collector's cursor to it, in order. Answers what was
    written; a failure (no connection, TLS refused, a broken write) is kept on the cursor
    row and logged, and the cursor stays where the last successful write left it."""
    cursor, _ = AuditStreamCursor.objects.get_or_create(collector=collector.name)
    token = uuid.uuid4().hex
    if not _lease(cursor, token):
        return StreamRun(collector.name, seq=cursor.seq, busy=True)
    connection: Connection | None = None
    events_sent = checkpoints_sent = 0
    try:
        deadline = time.monotonic() + RUN_SECONDS
        while time.monotonic() < deadline:
            events = list(AuditEvent.objects.filter(seq__gt=cursor.seq)
                          .order_by("seq")[:settings.AUDIT_STREAM_BATCH])
            up_to = events[-1].seq if events else cursor.seq
            # A checkpoint follows the events it covers, however long after them it was signed.
            checkpoints = list(AuditCheckpoint.objects.filter(
                seq__gt=cursor.checkpoint_seq, seq__lte=up_to).order_by("seq"))
            if not events and not checkpoints:
                break
            if connection is None:
                connection = _connect(collector)
            connection.send(_encode_batch(collector, events, checkpoints))
            _advance(cursor, token, seq=up_to,
                     checkpoint_seq=checkpoints[-1].seq if checkpoints else cursor.checkpoint_seq)
            events_sent += len(events)
            checkpoints_sent += len(checkpoints)
    except StreamError as error:
        _failed(cursor, token, str(error))
        return StreamRun(collector.name, events_sent, checkpoints_sent, cursor.seq, str(error))
    finally:
        if connection is not None:
            connection.close()
        AuditStreamCursor.objects.filter(pk=cursor.pk, lease_token=token).update(  # nosec B106
            leased_until=None, lease_token="")  # a lease's id, not a password
    return StreamRun(collector.name, events_sent, checkpoints_sent, cursor.seq)


def audit_stream_resend_from(*, collector: Collector, seq: int) -> AuditStreamCursor:
    """Send a collector everything again from event number `seq` on (and the checkpoints
    from that number on): after it lost what it had taken, or for a new copy at the same
    address. Recorded as `audit.stream_rewound`; the operator's, from the command line."""
    if seq < 1:
        raise InvalidInput.for_field("seq", "Event numbers start at 1.")
    with transaction.atomic():
        cursor, _ = AuditStreamCursor.objects.select_for_update().get_or_create(
            collector=collector.name)
        if cursor.leased_until and cursor.leased_until > timezone.now():
            raise Conflict(f"The stream to {collector.name} is sending now; try again when "
                           f"its run ends.")
        before = cursor.seq
        cursor.seq = min(cursor.seq, seq - 1)
        cursor.checkpoint_seq = min(cursor.checkpoint_seq, seq - 1)
        cursor.save(update_fields=["seq", "checkpoint_seq"])
        audit_record(action="audit.stream_rewound", target=cursor,
                     data={"collector": collector.name, "from": seq, "cursor_before": before,
                           "cursor": cursor.seq})
    return cursor


def _lease(cursor: AuditStreamCursor, token: str) -> bool:
    now = timezone.now()
    taken = AuditStreamCursor.objects.filter(pk=cursor.pk).filter(
        Q(leased_until__isnull=True) | Q(leased_until__lt=now)).update(
        leased_until=now + LEASE, lease_token=token)
    if taken:
        cursor.refresh_from_db()
    return bool(taken)


def _advance(cursor: AuditStreamCursor, token: str, *, seq: int, checkpoint_seq: int) -> None:
    now = timezone.now()
    moved = AuditStreamCursor.objects.filter(pk=cursor.pk, lease_token=token).update(
        seq=seq, checkpoint_seq=checkpoint_seq, delivered_at=now, last_error="",
        last_error_at=None, leased_until=now + LEASE)
    if not moved:  # the lease ran out and another run took over from the cursor
        raise StreamError(f"the stream to {cursor.collector} was taken over by another run")
    if cursor.last_error:
        logger.info("audit stream to %s delivers again (up to event %s)", cursor.collector, seq)
    cursor.seq, cursor.checkpoint_seq, cursor.last_error = seq, checkpoint_seq, ""


def _failed(cursor: AuditStreamCursor, token: str, reason: str) -> None:
    # Said once per new reason, not every five seconds of a collector's absence.
    log = logger.error if reason != cursor.last_error else logger.debug
    log("audit stream to %s: %s (the cursor stays at event %s)", cursor.collector, reason,
        cursor.seq)
    AuditStreamCursor.objects.filter(pk=cursor.pk, lease_token=token).update(
        last_error=reason[:2000], last_error_at=timezone.now())
    cursor.last_error = reason


def _connect(collector: Collector) -> Connection:
    context = None
    if collector.transport == "tls":
        try:
            context = tls_context(ca_file=settings.AUDIT_STREAM_CA_FILE,
                                  client_cert=settings.AUDIT_STREAM_CLIENT_CERT,
                                  client_key=settings.AUDIT_STREAM_CLIENT_KEY)
        except (OSError, ValueError) as error:
            raise StreamError(f"the TLS settings cannot be used: {error}") from error
    return Connection(collector, timeout=settings.AUDIT_STREAM_TIMEOUT, context=context)


def _encode_batch(collector: Collector, events: list[AuditEvent],
                  checkpoints: list[AuditCheckpoint]) -> bytes:
    records = [(event.seq, 0, audit_event_record(event)) for event in events]
    records += [(row.seq, 1, audit_checkpoint_record(Checkpoint.from_row(row)))
                for row in checkpoints]
    records.sort(key=lambda item: item[:2])
    return b"".join(encode(collector, record, hostname=settings.AUDIT_STREAM_SYSLOG_HOSTNAME,
                           sd_id=settings.AUDIT_STREAM_SYSLOG_SD_ID,
                           facility=settings.AUDIT_STREAM_SYSLOG_FACILITY)
                    for _, _, record in records)
