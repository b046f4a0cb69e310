"""Each day a fresh signed checkpoint of the audit chain leaves the database by email to
the compliance officers (issue 30), with the public key: what they keep verifies the log,
and names it when its tail is cut afterwards."""

from __future__ import annotations

import io
import json

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts import services as accounts
from compliance.services import audit_checkpoint_mail
from compliance.tasks import mail_audit_checkpoint
from core.audit import audit_record
from core.models import AuditEvent
from tests.compliance.test_audit_anchor import as_superuser, postgres  # noqa: F401 (a fixture)
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("postgres")  # cutting the tail takes PostgreSQL's superuser
def test_the_officers_get_a_checkpoint_that_verifies_the_log_they_can_keep(
        compliance_officer, owner, member, tmp_path, mailbox):
    second = make_user("compliance", name="Second Officer")
    gone = make_user("compliance", name="Former Officer")
    accounts.user_deactivate(actor=owner, user=gone)
    for n in range(3):
        audit_record(action="auth.sign_in", actor=member, data={"n": n})

    row = mail_audit_checkpoint.delay().get()
    (sent,) = mailbox.messages  # through a real SMTP server on loopback
    assert sorted(a.strip() for a in sent["To"].split(",")) == sorted(
        [compliance_officer.email, second.email])  # not the deactivated officer
    head = AuditEvent.objects.filter(action="auth.sign_in").order_by("-seq").first()
    assert row >= head.seq and f"event {row}" in sent["Subject"]
    parts = [p for p in sent.walk() if not p.is_multipart()]
    text = parts[0].get_payload(decode=True).decode()
    (checkpoint, key) = [p for p in parts if p.get_filename()]
    name, key_name = checkpoint.get_filename(), key.get_filename()
    body, pem = checkpoint.get_payload(decode=True).decode(), key.get_payload(decode=True).decode()
    assert checkpoint.get_content_type() == "application/json"
    assert key_name == "teamchat-audit-public-key.pem"
    saved = json.loads(body)
    assert saved["seq"] == row and saved["head_hash"] == AuditEvent.objects.get(seq=row).hash
    assert "audit_verify --checkpoint" in text and saved["key_fingerprint"] in text

    # What the officer kept verifies the log with the key that came with it ...
    (tmp_path / name).write_text(body)
    (tmp_path / key_name).write_text(pem)
    out = io.StringIO()
    call_command("audit_verify", checkpoint=tmp_path / name, public_key=tmp_path / key_name,
                 stdout=out, stderr=io.StringIO())
    assert "intact" in out.getvalue()
    mailed = AuditEvent.objects.get(action="audit.checkpoint_mailed")
    assert mailed.data == {"seq": row, "recipients": 2}

    # ... and names the log cut short behind its back.
    as_superuser(delete_from=head.id)
    with pytest.raises(CommandError, match=r"\(tail truncated\)"):
        call_command("audit_verify", checkpoint=tmp_path / name, public_key=tmp_path / key_name,
                     stdout=io.StringIO(), stderr=io.StringIO())


def test_no_officer_no_mail(member):
    audit_record(action="auth.sign_in", actor=member)
    assert audit_checkpoint_mail() is None
    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action="audit.checkpoint_mailed").exists()
