"""The audit stream to a SIEM: every event goes out in `seq` order to a real collector on
loopback (TCP with TLS, RFC 5424 in octet-counted frames, or JSON lines); a collector that
was away receives everything when it is back; a refused certificate keeps the cursor where
it was and says why; the lag shows on /metrics."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import os
import subprocess
import sys
from datetime import UTC

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from compliance import services, tasks
from compliance.checkpoints import Checkpoint, signature_valid
from compliance.models import AuditStreamCursor
from compliance.payloads import audit_event_payload
from compliance.selectors import audit_signing_key_get
from compliance.stream import parse_collector
from core.audit import audit_record
from core.models import AuditEvent
from tests.compliance.test_console_audit import browser_for
from tests.factories import wait_for
from tests.servers import self_signed_certificate
from tests.syslogserver import Collector

pytestmark = pytest.mark.django_db


@pytest.fixture
def certificate(tmp_path):
    return self_signed_certificate(tmp_path / "collector")


@pytest.fixture
def collector(certificate, settings):
    """A syslog collector over TLS, trusted through AUDIT_STREAM_CA_FILE."""
    yield from _running(Collector(certificate), certificate, settings)


@pytest.fixture(params=["octet", "lines"], ids=["syslog", "jsonl"])
def either_collector(certificate, settings, request):
    """A syslog collector, then a JSON-lines one, over TLS."""
    yield from _running(Collector(certificate, framing=request.param), certificate, settings)


def _running(running: Collector, certificate, settings):
    running.start()
    settings.AUDIT_STREAM_URL = [running.url]
    settings.AUDIT_STREAM_CA_FILE = str(certificate[0])
    settings.AUDIT_STREAM_SYSLOG_HOSTNAME = "chat.example.com"
    yield running
    running.stop()


def record(actor, count: int, action: str = "auth.sign_in") -> list[AuditEvent]:
    return [audit_record(action=action, actor=actor, data={"n": n}) for n in range(count)]


def cursor_of(collector: Collector) -> AuditStreamCursor:
    return AuditStreamCursor.objects.get(collector=parse_collector(collector.url).name)


def chained(payloads: list[dict]) -> bool:
    """Each event's hash, recomputed from the record alone, and linked to the one before."""
    for before, event in itertools.pairwise(payloads):
        if event["prev_hash"] != before["hash"]:
            return False
    for event in payloads:
        canonical = {key: event[key] for key in (
            "created_at", "actor_id", "actor_label", "action", "target_type", "target_id",
            "conversation_id", "ip_address", "data")}
        body = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
        if hashlib.sha256(f"{event['prev_hash']}\n{body}".encode()).hexdigest() != event["hash"]:
            return False
    return True


def test_a_collector_stopped_for_1000_events_receives_all_of_them_in_order_when_back(
        either_collector, member, caplog):
    collector = either_collector
    # Given a collector that has everything so far
    record(member, 3)
    first = services.audit_stream_send()
    wait_for(lambda: collector.count() == AuditEvent.objects.count())
    delivered = AuditEvent.objects.count()
    # When it stops for the length of 1,000 events
    collector.stop()
    head = AuditEvent.objects.order_by("-seq").first().seq
    events = record(member, 1000, action="message.deleted")
    with caplog.at_level(logging.ERROR, logger="compliance.services.stream"):
        while_down = [tasks.stream_audit_events() for _ in range(3)]
    cursor_while_down = cursor_of(collector)
    # and comes back on the same port
    collector.start()
    after = tasks.stream_audit_events()
    wait_for(lambda: collector.count() == delivered + 1000)

    # Then every one of the 1,000 arrived once, in order, after what it had before
    assert first[0].events == delivered and first[0].error == ""
    for runs in while_down:
        assert runs[0]["events"] == 0 and "cannot connect" in runs[0]["error"]
    assert cursor_while_down.seq == head
    assert "cannot connect" in cursor_while_down.last_error
    # One error in the log for the collector's absence, not one per run.
    assert len([r for r in caplog.records if "cannot connect" in r.getMessage()]) == 1
    assert after == [{"collector": parse_collector(collector.url).name, "events": 1000,
                      "checkpoints": 0, "seq": events[-1].seq, "error": "", "busy": False}]
    payloads = collector.payloads()
    seqs = [p["seq"] for p in payloads]
    assert seqs == list(range(1, events[-1].seq + 1))
    assert payloads[delivered:] == [{"type": "audit.event", **audit_event_payload(e)} for e in events]
    assert chained(payloads)
    assert collector.errors == []
    cursor = cursor_of(collector)
    assert (cursor.seq, cursor.last_error, cursor.leased_until) == (events[-1].seq, "", None)
    # Nothing more to send: nothing is sent again.
    assert tasks.stream_audit_events()[0]["events"] == 0
    assert collector.count() == delivered + 1000


def test_each_frame_is_an_rfc5424_message_with_the_event_in_its_structured_data_and_json(
        collector, member):
    event = audit_record(action="user.role_changed", actor=member, target_type="accounts.user",
                         target_id=7, data={"from": "member", "to": "admin",
                                            "note": 'quote " back\\slash ] bracket, ünïcode'})

    services.audit_stream_send()
    wait_for(lambda: collector.count() == AuditEvent.objects.count())

    message = collector.messages()[-1]
    assert (message.facility, message.severity, message.version) == (13, 6, 1)
    assert message.timestamp == event.created_at.astimezone(UTC)
    assert (message.hostname, message.app_name, message.procid, message.msgid) == (
        "chat.example.com", "teamchat", "-", "user.role_changed")
    assert message.structured_data == {"teamchat@32473": {
        "seq": str(event.seq), "action": "user.role_changed", "actor_label": member.email,
        "target_type": "accounts.user",
        "target_id": "7", "hash": event.hash}}
    assert json.loads(message.msg) == {"type": "audit.event", **audit_event_payload(event)}
    assert json.loads(message.msg)["actor_label"] == member.email


def test_json_lines_carry_the_same_records(certificate, settings, member):
    collector = Collector(certificate, framing="lines").start()
    settings.AUDIT_STREAM_URL = [collector.url]
    settings.AUDIT_STREAM_CA_FILE = str(certificate[0])
    try:
        record(member, 5)
        services.audit_stream_send()
        wait_for(lambda: collector.count() == AuditEvent.objects.count())
    finally:
        collector.stop()

    assert collector.url.startswith("jsonl+tls://")
    assert collector.payloads() == [{"type": "audit.event", **audit_event_payload(e)}
                                    for e in AuditEvent.objects.order_by("seq")]


def test_a_certificate_the_stream_does_not_trust_is_reported_and_the_cursor_stays(
        collector, tmp_path, settings, member, caplog):
    # Given a CA file that is not the collector's authority
    stranger, _ = self_signed_certificate(tmp_path / "stranger")
    settings.AUDIT_STREAM_CA_FILE = str(stranger)
    record(member, 4)

    with caplog.at_level(logging.ERROR, logger="compliance.services.stream"):
        [run] = services.audit_stream_send()

    assert run.events == 0
    assert "certificate verification failed" in run.error
    cursor = cursor_of(collector)
    assert cursor.seq == 0 and cursor.delivered_at is None
    assert "certificate verification failed" in cursor.last_error
    assert any("certificate verification failed" in r.getMessage() for r in caplog.records)
    assert collector.count() == 0


def test_the_lag_shows_on_metrics_and_clears_once_delivered(collector, member, settings):
    settings.METRICS_TOKEN = ""
    collector.stop()
    record(member, 12)
    waiting = AuditEvent.objects.count()  # with the member's own
    services.audit_stream_send()
    label = f'collector="{parse_collector(collector.url).name}"'

    behind = Client().get("/metrics").content.decode()
    collector.start()
    services.audit_stream_send()
    caught_up = Client().get("/metrics").content.decode()

    assert f"teamchat_audit_stream_lag_events{{{label}}} {waiting}.0" in behind
    assert f"teamchat_audit_stream_lag_seconds{{{label}}} " in behind
    waited = float(behind.split(f"teamchat_audit_stream_lag_seconds{{{label}}} ")[1].split()[0])
    oldest = AuditEvent.objects.order_by("seq").first().created_at
    assert 0 < waited <= (timezone.now() - oldest).total_seconds()
    assert f"teamchat_audit_stream_up{{{label}}} 0.0" in behind
    assert f"teamchat_audit_stream_lag_events{{{label}}} 0.0" in caught_up
    assert f"teamchat_audit_stream_lag_seconds{{{label}}} 0.0" in caught_up
    assert f"teamchat_audit_stream_up{{{label}}} 1.0" in caught_up


def test_checkpoints_follow_the_events_they_cover_even_when_signed_later(collector, member,
                                                                      tmp_path):
    record(member, 3)
    services.audit_stream_send()
    covered = AuditEvent.objects.count()
    checkpoint = services.audit_checkpoint_write(force=True)
    record(member, 2)

    services.audit_stream_send()
    wait_for(lambda: collector.count() == covered + 3)
    services.audit_stream_send()

    payloads = collector.payloads()
    assert [p["type"] for p in payloads] == (["audit.event"] * covered + ["audit.checkpoint"]
                                             + ["audit.event"] * 2)
    assert payloads[covered - 1]["seq"] == checkpoint.seq
    sent = Checkpoint.from_dict({k: v for k, v in payloads[covered].items() if k != "type"})
    assert sent == Checkpoint.from_row(checkpoint)
    assert signature_valid(sent, audit_signing_key_get().public_key)
    message = collector.messages()[covered]
    assert message.msgid == "audit.checkpoint"
    assert message.structured_data["teamchat@32473"] == {
        "seq": str(checkpoint.seq), "head_hash": checkpoint.head_hash}
    assert collector.count() == covered + 3  # nothing sent twice
    # The record as the SIEM keeps it is a checkpoint file audit_verify reads.
    kept = tmp_path / "from-siem.json"
    kept.write_text(json.dumps(payloads[covered]))
    out = io.StringIO()
    call_command("audit_verify", "--checkpoint", str(kept), stdout=out, stderr=io.StringIO())
    assert f"through checkpoint number {checkpoint.seq}" in out.getvalue()


def test_a_run_leaves_the_collector_to_another_run_that_holds_its_lease(collector, member):
    record(member, 2)
    services.audit_stream_send()
    cursor = cursor_of(collector)
    AuditStreamCursor.objects.filter(pk=cursor.pk).update(
        leased_until=timezone.now() + timezone.timedelta(seconds=30), lease_token="other")
    record(member, 2)

    [run] = services.audit_stream_send()

    assert run.busy and run.events == 0
    assert cursor_of(collector).seq == cursor.seq


def test_a_malformed_stream_setting_is_refused_by_check(settings, tmp_path):
    settings.AUDIT_STREAM_URL = ["syslog://siem.example.com", "jsonl+tcp://siem.example.com:5000"]
    settings.AUDIT_STREAM_CA_FILE = str(tmp_path / "missing.pem")

    problems = {problem.id: problem.msg for problem in run_checks()}

    assert "syslog+tls" in problems["teamchat.E033"]
    assert "without TLS" in problems["teamchat.W034"]
    assert "missing.pem" in problems["teamchat.E035"]


def test_the_operator_sees_the_stream_and_has_a_collector_sent_everything_again(collector, member):
    record(member, 3)
    sent, status = io.StringIO(), io.StringIO()
    call_command("audit_stream", "--send", stdout=sent)
    total = AuditEvent.objects.count()
    wait_for(lambda: collector.count() == total)

    call_command("audit_stream", "--resend-from", "2", "--collector", collector.url, stdout=status)
    services.audit_stream_send()
    wait_for(lambda: collector.count() == 2 * total)

    name = parse_collector(collector.url).name
    assert f"{name}: sent {total} events and 0 checkpoints, up to event {total}" in sent.getvalue()
    assert f"{name}: sent up to event {total}" in sent.getvalue()
    assert f"{name}: will be sent everything after event 1." in status.getvalue()
    rewound = AuditEvent.objects.get(action="audit.stream_rewound")
    assert rewound.data == {"collector": name, "from": 2, "cursor_before": total, "cursor": 1}
    assert rewound.actor_id is None
    assert [p["seq"] for p in collector.payloads()] == [*range(1, total + 1), *range(2, total + 2)]


def test_the_operators_status_says_when_a_collector_fails(collector, member):
    collector.stop()
    record(member, 2)
    services.audit_stream_send()
    out = io.StringIO()

    with pytest.raises(CommandError, match="fails to reach a collector"):
        call_command("audit_stream", stdout=out)

    assert "events waiting" in out.getvalue()
    assert "failing: cannot connect to" in out.getvalue()


def test_beat_streams_every_five_seconds_once_a_collector_is_set(tmp_path):
    def scheduled(**env: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", "import teamchat.settings as s; "
                                   "print(s.CELERY_BEAT_SCHEDULE.get('stream-audit-events'))"],
            env={**os.environ, "DEBUG": "0", "SECRET_KEY": "x" * 50,
                 "TEAMCHAT_DATA_DIR": str(tmp_path), "AUDIT_STREAM_URL": "", **env},
            capture_output=True, text=True, check=True).stdout.strip()

    assert scheduled() == "None"
    assert scheduled(AUDIT_STREAM_URL="syslog+tls://siem.example.com:6514") == str({
        "task": "compliance.tasks.stream_audit_events", "schedule": 5.0,
        "options": {"expires": 5.0}})


def test_the_console_shows_each_collector_and_why_it_fails(collector, member, compliance_officer):
    collector.stop()
    record(member, 2)
    services.audit_stream_send()
    browser = browser_for(compliance_officer)  # signing in is an event too
    waiting = AuditEvent.objects.count()

    page = browser.get("/console/audit/").content.decode()

    assert "Streaming to a SIEM" in page
    assert f"<code>{parse_collector(collector.url).name}</code>: sent up to event 0;" in page
    assert f"{waiting} events waiting" in page
    assert "Failing: cannot connect to" in page
