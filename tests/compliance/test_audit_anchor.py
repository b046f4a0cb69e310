"""Signed checkpoints anchor the audit chain: audit_verify names a cut tail, a truncated
or restarted log and a forged checkpoint; PostgreSQL refuses TRUNCATE of the audit tables."""

from __future__ import annotations

import base64
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from compliance import services, tasks
from compliance.models import AuditCheckpoint, AuditSigningKey, VerificationStatus
from core.audit import audit_record
from core.models import AuditEvent
from core.secrets import decrypt
from tests.compliance.test_console_audit import _no_worker, browser_for
from tests.compliance.test_records import run_export

pytestmark = pytest.mark.django_db


@pytest.fixture
def postgres(settings) -> None:
    if not settings.TEST_USES_POSTGRES:
        pytest.skip("the triggers and superuser powers are PostgreSQL's")


def record(actor, count: int) -> list[AuditEvent]:
    return [audit_record(action="auth.sign_in", actor=actor, data={"n": n}) for n in range(count)]


def checkpoint_file(tmp_path: Path) -> Path:
    out = tmp_path / "checkpoint.json"
    call_command("audit_checkpoint", out=out, stderr=io.StringIO())
    return out


def as_superuser(*statements: str, delete_from: int | None = None) -> None:
    """What a superuser can do: set the audit triggers aside, change the log, put them back."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER USER")
        if delete_from is not None:
            AuditEvent.objects.filter(id__gte=delete_from).delete()
        for statement in statements:
            cursor.execute(statement)
        cursor.execute("ALTER TABLE compliance_auditevent ENABLE TRIGGER USER")


def verify(**options) -> str:
    """audit_verify's error message; fails the test if it says the chain is intact."""
    with pytest.raises(CommandError) as error:
        call_command("audit_verify", stdout=io.StringIO(), stderr=io.StringIO(), **options)
    return str(error.value)


def test_an_intact_chain_verifies_through_the_checkpoint_file(member, tmp_path):
    record(member, 3)
    path = checkpoint_file(tmp_path)
    saved = json.loads(path.read_text())
    record(member, 2)  # the log goes on growing past the checkpoint

    out = io.StringIO()
    call_command("audit_verify", checkpoint=path, stdout=out, stderr=io.StringIO())

    head = AuditEvent.objects.order_by("-id").first()
    assert saved["seq"] == head.seq - 2 and saved["head_hash"] == (
        AuditEvent.objects.get(seq=saved["seq"]).hash)
    assert saved["count"] == AuditEvent.objects.filter(seq__lte=saved["seq"]).count()
    assert f"Audit chain intact: {head.seq} events verified, through checkpoint number " \
           f"{saved['seq']}" in out.getvalue()


def test_deleting_the_tail_is_named(member, tmp_path, postgres):
    events = record(member, 5)
    path = checkpoint_file(tmp_path)
    as_superuser(delete_from=events[3].id)

    message = verify(checkpoint=path)

    assert "(tail truncated)" in message
    assert f"the log ends at number {events[2].seq} (event {events[2].id})" in message
    assert "the last 2 were removed" in message


def test_a_cut_tail_written_again_is_named(member, tmp_path, postgres):
    events = record(member, 4)
    path = checkpoint_file(tmp_path)
    as_superuser(delete_from=events[2].id)
    regrown = record(member, 3)  # the chain looks whole again, and as long

    message = verify(checkpoint=path)

    assert f"at event {regrown[1].id} (tail truncated)" in message
    assert "does not descend from the checkpoint" in message


def test_a_truncated_log_is_named(member, tmp_path, postgres):
    record(member, 3)
    path = checkpoint_file(tmp_path)
    as_superuser("TRUNCATE compliance_auditevent")

    message = verify(checkpoint=path)

    assert "(tail truncated): the log is empty, but the checkpoint of" in message
    assert AuditEvent.objects.count() == 0


def test_a_restarted_chain_is_named(member, tmp_path, postgres):
    record(member, 3)
    path = checkpoint_file(tmp_path)
    as_superuser("TRUNCATE compliance_auditevent")
    fresh = record(member, 2)  # a new chain from the genesis, intact on its own

    assert fresh[0].seq == 1 and fresh[0].prev_hash == "0" * 64
    message = verify(checkpoint=path)

    assert f"at event {fresh[0].id} (restarted chain)" in message
    assert "the chain starts again from the genesis" in message


def test_a_tampered_checkpoint_signature_is_named(member, tmp_path):
    record(member, 2)
    path = checkpoint_file(tmp_path)
    forged = json.loads(path.read_text())
    forged["count"] += 10
    path.write_text(json.dumps(forged))

    message = verify(checkpoint=path)

    assert "(checkpoint signature invalid)" in message
    assert "does not verify with the organisation's public key" in message


def test_a_checkpoint_checked_against_another_public_key_is_named(member, tmp_path):
    record(member, 2)
    path = checkpoint_file(tmp_path)
    other = tmp_path / "other.pem"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    kept = tmp_path / "kept.pem"
    call_command("audit_public_key", out=kept, stderr=io.StringIO())

    assert "(checkpoint signature invalid)" in verify(checkpoint=path, public_key=other)
    call_command("audit_verify", checkpoint=path, public_key=kept, stdout=io.StringIO(),
                 stderr=io.StringIO())  # the organisation's own key: intact


def test_without_a_file_the_newest_stored_checkpoint_is_used_and_said_to_be_weaker(
        member, postgres):
    events = record(member, 3)
    services.audit_checkpoint_write(force=True)
    as_superuser(delete_from=events[2].id)

    err = io.StringIO()
    with pytest.raises(CommandError, match=r"\(tail truncated\)"):
        call_command("audit_verify", stdout=io.StringIO(), stderr=err)

    assert "Whoever can delete the log can delete it too" in err.getvalue()


def test_the_console_verification_names_checkpoint_findings(member, compliance_officer, postgres):
    events = record(member, 3)
    services.audit_checkpoint_write(force=True)
    as_superuser(delete_from=events[1].id)

    with _no_worker():
        job = services.audit_verification_start(actor=compliance_officer)
    job = services.audit_verification_run(job_id=job.pk)

    assert job.status == VerificationStatus.BROKEN
    assert job.reason.startswith("tail truncated: the log ends at number")
    result = AuditEvent.objects.get(action="audit.verified")
    assert result.data["kind"] == "tail truncated"
    assert result.data["checkpoint"] == events[2].seq


def test_truncate_is_refused_while_the_triggers_stand(member, postgres):
    record(member, 2)
    services.audit_checkpoint_write(force=True)

    for table in ("compliance_auditevent", "compliance_auditcheckpoint",
                  "compliance_auditsigningkey"):
        with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table}")
    with pytest.raises(DatabaseError, match="append-only: UPDATE refused"), transaction.atomic():
        AuditCheckpoint.objects.update(count=0)
    with pytest.raises(DatabaseError, match="append-only: DELETE refused"), transaction.atomic():
        AuditCheckpoint.objects.all().delete()
    with pytest.raises(DatabaseError, match="append-only: DELETE refused"), transaction.atomic():
        AuditSigningKey.objects.all().delete()

    assert AuditEvent.objects.count() >= 2 and AuditCheckpoint.objects.get().count >= 2


def test_the_beat_task_writes_a_checkpoint_every_n_events(member, settings):
    settings.AUDIT_CHECKPOINT_EVERY_EVENTS = 5
    settings.AUDIT_CHECKPOINT_EVERY_MINUTES = 60
    record(member, 1)
    first = tasks.write_audit_checkpoint()  # the first one: nothing signed yet
    record(member, 4)
    too_few = tasks.write_audit_checkpoint()
    record(member, 1)
    fifth = tasks.write_audit_checkpoint()

    head = AuditEvent.objects.order_by("-id").first()
    assert first == head.seq - 5 and too_few is None and fifth == head.seq
    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == [head.seq, head.seq - 5]
    schedule = django_settings.CELERY_BEAT_SCHEDULE["write-audit-checkpoint"]
    assert schedule["task"] == "compliance.tasks.write_audit_checkpoint"


def test_the_beat_task_writes_a_checkpoint_after_m_minutes(member, settings):
    settings.AUDIT_CHECKPOINT_EVERY_EVENTS = 1000
    settings.AUDIT_CHECKPOINT_EVERY_MINUTES = 10
    record(member, 1)
    tasks.write_audit_checkpoint()
    record(member, 1)

    assert tasks.write_audit_checkpoint() is None  # one event, a moment later
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditcheckpoint DISABLE TRIGGER USER")
        AuditCheckpoint.objects.update(created_at=AuditCheckpoint.objects.get().created_at
                                       - timedelta(minutes=11))
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditcheckpoint ENABLE TRIGGER USER")
    assert tasks.write_audit_checkpoint() == AuditEvent.objects.order_by("-id").first().seq


def test_the_export_manifest_carries_the_latest_checkpoint(member, compliance_officer, tmp_path):
    record(member, 2)
    services.audit_checkpoint_write(force=True)
    record(member, 1)
    latest = services.audit_checkpoint_write(force=True)

    _job, bundle = run_export(compliance_officer, format="jsonl")
    manifest = json.loads(bundle.read("manifest.json"))

    assert AuditCheckpoint.objects.count() == 2
    assert manifest["audit_checkpoint"]["seq"] == latest.seq
    assert manifest["audit_checkpoint"]["signature"] == latest.signature
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    out = io.StringIO()
    call_command("audit_verify", checkpoint=path, stdout=out, stderr=io.StringIO())
    assert f"through checkpoint number {latest.seq}" in out.getvalue()


def test_the_private_key_is_kept_encrypted_and_only_the_public_half_shown(
        member, compliance_officer):
    record(member, 1)
    services.audit_checkpoint_write(force=True)
    key = AuditSigningKey.objects.get()
    private_b64 = decrypt(key.private_key_encrypted)

    html = browser_for(compliance_officer).get("/console/audit/").content.decode()
    pem = io.StringIO()
    call_command("audit_public_key", stdout=pem, stderr=io.StringIO())

    assert private_b64 not in key.private_key_encrypted
    assert len(base64.b64decode(private_b64)) == 32
    assert key.fingerprint in html and pem.getvalue().strip() in html
    assert private_b64 not in html and key.private_key_encrypted not in html
    assert "BEGIN PUBLIC KEY" in pem.getvalue()


def test_a_manifest_without_a_checkpoint_or_a_broken_file_is_refused_by_name(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"version": 1, "audit_checkpoint": None}))
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"version": 1, "seq": 3}))

    assert "the manifest holds no checkpoint" in verify(checkpoint=manifest)
    assert "the checkpoint lacks event_id, head_hash, count" in verify(checkpoint=partial)
