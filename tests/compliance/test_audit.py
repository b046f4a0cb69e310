"""The audit log: a hash chain that audit_verify walks, append-only on PostgreSQL."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from core.audit import audit_record
from core.models import AuditEvent

pytestmark = pytest.mark.django_db


def record_three(actor):
    return [audit_record(action=f"test.step{n}", actor=actor, data={"n": n}) for n in range(3)]


def test_each_event_holds_the_hash_of_the_one_before(member):
    events = record_three(member)
    before = AuditEvent.objects.filter(id__lt=events[0].id).order_by("-id").first()

    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    assert events[0].prev_hash == (before.hash if before else "0" * 64)
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "Audit chain intact" in out.getvalue()


def _tamper(event_id: int, **changes: object) -> None:
    """Change a row behind the product's back, as an intruder with database access would."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
        AuditEvent.objects.filter(pk=event_id).update(**changes)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditevent ENABLE TRIGGER USER")


def test_audit_verify_names_the_first_tampered_row(member):
    events = record_three(member)
    _tamper(events[1].id, data={"n": 99})

    with pytest.raises(CommandError) as error:
        call_command("audit_verify")

    assert f"Audit chain broken at event {events[1].id}" in str(error.value)
    assert "contents do not match its hash" in str(error.value)


def test_audit_verify_finds_a_removed_row(member):
    events = record_three(member)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
        AuditEvent.objects.filter(pk=events[1].id).delete()
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditevent ENABLE TRIGGER USER")

    with pytest.raises(CommandError) as error:
        call_command("audit_verify")

    assert (f"broken at event {events[2].id} (gap in the sequence): event {events[1].seq} is "
            "missing before it") in str(error.value)


def test_the_database_refuses_updates_and_deletes(member, settings):
    if not settings.TEST_USES_POSTGRES:
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    event = audit_record(action="test.locked", actor=member)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="test.changed")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    event.refresh_from_db()
    assert event.action == "test.locked"
