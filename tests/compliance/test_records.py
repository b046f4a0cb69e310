"""Exports, retention, legal holds and erasure: what a compliance officer relies on."""

from __future__ import annotations

import csv
import email
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts import services as accounts
from accounts.models import ApiToken
from compliance import services
from compliance.models import ExportJob
from core.errors import Forbidden
from core.models import AuditEvent
from e2ee.models import IdentityKey
from files import services as files
from files.models import Attachment
from messaging import services as messaging
from messaging.models import (
    ActivityState,
    Draft,
    Message,
    MessageRevision,
    Reminder,
    ScheduledMessage,
    ThreadFollow,
)
from tests.factories import make_channel, post

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def dated(message: Message, when: datetime) -> Message:
    Message.objects.filter(pk=message.pk).update(created_at=when)
    message.refresh_from_db()
    return message


@pytest.fixture
def archive(member, other_member):
    ana, ben = member, other_member
    general = make_channel(ana, "general", members=[ben])
    legal = make_channel(ben, "legal", kind="private", members=[ana])
    before = dated(post(ana, general, "before the range"), DAY - timedelta(days=5))
    edited = post(ana, general, "first draft")
    messaging.message_edit(actor=ana, message_id=edited.pk, text="second draft")
    messaging.message_edit(actor=ana, message_id=edited.pk, text="final text")
    edited = dated(edited, DAY)
    upload = files.attachment_upload(uploader=ben, upload=SimpleUploadedFile(
        "contract.txt", b"the contract terms"))
    with_file = messaging.message_create(author=ben, conversation_id=legal.pk, text="the contract",
                                         file_ids=[upload.pk]).message
    dated(with_file, DAY + timedelta(days=1))
    deleted = dated(post(ben, general, "regrettable"), DAY + timedelta(days=2))
    messaging.message_delete(actor=ben, message_id=deleted.pk)
    reply = dated(post(ben, general, "a reply", thread_root_id=edited.pk), DAY + timedelta(days=3))
    after = dated(post(ana, general, "after the range"), DAY + timedelta(days=30))
    return {"ana": ana, "ben": ben, "general": general, "legal": legal, "before": before,
            "edited": edited, "with_file": with_file, "deleted": deleted, "reply": reply,
            "after": after, "upload": upload}


def run_export(actor, **kwargs) -> tuple[ExportJob, zipfile.ZipFile]:
    job = services.export_start(actor=actor, start=DAY - timedelta(days=1),
                                end=DAY + timedelta(days=10), in_background=False, **kwargs)
    job = services.export_run(job_id=job.pk)
    with job.archive.open("rb") as stream:
        data = stream.read()
    assert hashlib.sha256(data).hexdigest() == job.sha256
    return job, zipfile.ZipFile(io.BytesIO(data))


def verify_checksums(bundle: zipfile.ZipFile) -> dict:
    manifest = json.loads(bundle.read("manifest.json"))
    sums = dict(line.split("  ", 1)[::-1] for line in bundle.read("SHA256SUMS").decode().splitlines())
    for name, entry in manifest["files"].items():
        data = bundle.read(name)
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] == sums[name]
        assert len(data) == entry["size"]
    return manifest


def test_a_jsonl_export_holds_each_message_once_with_its_history(archive, compliance_officer):
    job, bundle = run_export(compliance_officer, format="jsonl", with_files=True)

    manifest = verify_checksums(bundle)
    records = [json.loads(line) for line in bundle.read("messages.jsonl").decode().splitlines()]
    ids = [r["id"] for r in records]
    expected = [archive[k].pk for k in ("edited", "with_file", "deleted", "reply")]
    assert ids == sorted(expected) and len(set(ids)) == len(ids)
    edited = next(r for r in records if r["id"] == archive["edited"].pk)
    assert edited["text"] == "final text"
    assert [r["text"] for r in edited["revisions"]] == ["first draft", "second draft"]
    deleted = next(r for r in records if r["id"] == archive["deleted"].pk)
    assert deleted["deleted_at"] and deleted["text"] == "regrettable"
    contract = next(r for r in records if r["id"] == archive["with_file"].pk)
    (attachment,) = contract["attachments"]
    assert bundle.read(attachment["path"]) == b"the contract terms"
    assert attachment["sha256"] == hashlib.sha256(b"the contract terms").hexdigest()
    assert next(r for r in records if r["id"] == archive["reply"].pk)["thread_root"] == (
        archive["edited"].pk)
    assert manifest["counts"] == {"messages": 4, "files": 1}
    assert manifest["filters"]["format"] == "jsonl"
    assert manifest["version"] == "teamchat-export/1"
    assert job.done == job.total == 4


def test_filters_by_conversation_and_person(archive, compliance_officer):
    _, by_channel = run_export(compliance_officer, format="jsonl",
                               conversation_ids=[archive["legal"].pk])
    _, by_person = run_export(compliance_officer, format="jsonl", user_ids=[archive["ana"].pk])
    channel_ids = [json.loads(x)["id"] for x in by_channel.read("messages.jsonl").splitlines()]
    person_ids = [json.loads(x)["id"] for x in by_person.read("messages.jsonl").splitlines()]
    assert channel_ids == [archive["with_file"].pk]
    assert person_ids == [archive["edited"].pk]


def test_csv_and_eml_exports(archive, compliance_officer):
    _, as_csv = run_export(compliance_officer, format="csv")
    _, as_eml = run_export(compliance_officer, format="eml", with_files=True)

    verify_checksums(as_csv)
    rows = list(csv.DictReader(io.StringIO(as_csv.read("messages.csv").decode())))
    assert [int(r["id"]) for r in rows] == sorted(
        archive[k].pk for k in ("edited", "with_file", "deleted", "reply"))
    assert json.loads(rows[0]["revisions"])[0]["text"] == "first draft"

    verify_checksums(as_eml)
    names = [n for n in as_eml.namelist() if n.endswith(".eml")]
    assert len(names) == 4
    contract = email.message_from_bytes(as_eml.read(
        f"messages/{archive['legal'].pk}/{archive['with_file'].pk}.eml"))
    assert contract["From"] == f'"{archive["ben"].display_name}" <{archive["ben"].email}>'
    assert contract["Message-ID"].startswith(f"<teamchat-message-{archive['with_file'].pk}@")
    assert contract["Subject"] == "[#legal] the contract"
    attached = [p for p in contract.walk() if p.get_filename() == "contract.txt"]
    assert attached[0].get_payload(decode=True) == b"the contract terms"
    reply = email.message_from_bytes(as_eml.read(
        f"messages/{archive['general'].pk}/{archive['reply'].pk}.eml"))
    assert reply["In-Reply-To"] == f"<teamchat-message-{archive['edited'].pk}@" + (
        reply["In-Reply-To"].split("@", 1)[1])


def test_exports_and_downloads_are_for_compliance_officers_only_and_audited(
        archive, member, guest, admin, owner, compliance_officer):
    # Owners and admins too are refused: an export holds private channels and direct
    # conversations they are not in (docs/security.md).
    for person in (member, guest, admin, owner):
        with pytest.raises(Forbidden):
            services.export_start(actor=person, format="jsonl")
        with pytest.raises(Forbidden):
            services.subject_export_start(actor=person, subject=archive["ana"])
    job, _ = run_export(compliance_officer, format="jsonl")
    token = services.export_download_token(job=job)
    url = f"/console/exports/{job.pk}/download/{token}/"
    for person, status in ((member, 403), (guest, 403), (admin, 403), (owner, 403),
                           (compliance_officer, 200)):
        browser = Client()
        browser.force_login(person)
        assert browser.get(url).status_code == status
    browser = Client()
    browser.force_login(compliance_officer)
    assert browser.get(url[:-5] + "xxxx/").status_code == 404
    # By type too: a person may have the same id as the export.
    actions = list(AuditEvent.objects.filter(target_type="compliance.exportjob", target_id=str(job.pk))
                   .values_list("action", flat=True))
    assert actions == ["export.requested", "export.completed", "export.downloaded"]


def test_the_export_command(archive, tmp_path):
    out = tmp_path / "export.zip"
    call_command("compliance_export", "--start", "2026-03-09", "--end", "2026-03-20",
                 "--conversation", "general", "--format", "jsonl", "--out", str(out))
    bundle = zipfile.ZipFile(out)
    verify_checksums(bundle)
    ids = [json.loads(x)["id"] for x in bundle.read("messages.jsonl").splitlines()]
    assert ids == [archive["edited"].pk, archive["deleted"].pk, archive["reply"].pk]
    assert AuditEvent.objects.filter(action="export.requested", actor__isnull=True).exists()


# --- Retention and legal holds ------------------------------------------------------------


def test_retention_removes_exactly_what_policy_says_and_nothing_held(member, other_member,
                                                                   compliance_officer, user_factory):
    ana, ben = member, other_member
    carl = user_factory(name="Carl Custodian")
    short = make_channel(ana, "short-lived", members=[ben, carl])
    keep = make_channel(ana, "kept-forever", members=[ben])
    default = make_channel(ana, "by-default", members=[ben])
    now = timezone.now()
    old_short = post(ana, short, "old, removable")
    messaging.message_edit(actor=ana, message_id=old_short.pk, text="old, edited")
    old_short = dated(old_short, now - timedelta(days=40))
    old_upload = files.attachment_upload(uploader=ana, upload=SimpleUploadedFile("a.txt", b"a"))
    old_with_file = dated(messaging.message_create(author=ana, conversation_id=short.pk,
                                                   text="old with file",
                                                   file_ids=[old_upload.pk]).message,
                          now - timedelta(days=40))
    held_by_person = dated(post(carl, short, "old but Carl is on hold"), now - timedelta(days=40))
    young = dated(post(ana, short, "young"), now - timedelta(days=5))
    old_root = dated(post(ana, short, "old root with a young reply"), now - timedelta(days=40))
    dated(post(ben, short, "young reply", thread_root_id=old_root.pk), now - timedelta(days=1))
    forever = dated(post(ana, keep, "ancient, kept forever"), now - timedelta(days=900))
    by_default_old = dated(post(ana, default, "older than the default"), now - timedelta(days=400))
    by_default_young = dated(post(ana, default, "younger than the default"), now - timedelta(days=100))
    services.retention_policy_set(actor=compliance_officer, keep_days=365)
    services.retention_policy_set(actor=compliance_officer, keep_days=30, conversation_id=short.pk)
    services.retention_policy_set(actor=compliance_officer, keep_days=None, conversation_id=keep.pk)
    services.legal_hold_create(actor=compliance_officer, name="Matter 42", reason="litigation",
                               custodian_ids=[carl.pk])
    blob_path = Path(Attachment.objects.get(pk=old_upload.pk).blob.path)

    dry = services.retention_apply(dry_run=True)
    assert (dry.messages, dry.held, dry.files, dry.revisions) == (3, 1, 1, 1)
    assert Message.objects.filter(pk=old_short.pk).exists()
    report = services.retention_apply(batch_size=1)

    assert report.messages == 3
    gone = {old_short.pk, old_with_file.pk, by_default_old.pk}
    assert not Message.objects.filter(pk__in=gone).exists()
    assert not MessageRevision.objects.filter(message_id=old_short.pk).exists()
    assert not Attachment.objects.filter(pk=old_upload.pk).exists() and not blob_path.exists()
    for survivor in (held_by_person, young, old_root, forever, by_default_young):
        assert Message.objects.filter(pk=survivor.pk).exists(), survivor.text
    assert AuditEvent.objects.filter(action="retention.applied").last().data["messages"] == 3
    call_command("apply_retention", "--dry-run")


def test_a_held_persons_own_delete_keeps_the_record(member, compliance_officer):
    channel = make_channel(member)
    message = post(member, channel, "evidence")
    services.legal_hold_create(actor=compliance_officer, name="Hold", reason="audit",
                               conversation_ids=[channel.pk])
    messaging.message_delete(actor=member, message_id=message.pk)
    services.retention_policy_set(actor=compliance_officer, keep_days=1, conversation_id=channel.pk)
    dated(message, timezone.now() - timedelta(days=10))

    services.retention_apply()

    stored = Message.objects.get(pk=message.pk)
    assert stored.deleted_at is not None and stored.text == "evidence"


def test_released_holds_stop_protecting(member, compliance_officer):
    channel = make_channel(member)
    message = dated(post(member, channel, "x"), timezone.now() - timedelta(days=10))
    hold = services.legal_hold_create(actor=compliance_officer, name="H", reason="r",
                                      conversation_ids=[channel.pk])
    services.retention_policy_set(actor=compliance_officer, keep_days=1, conversation_id=channel.pk)
    assert services.retention_apply().messages == 0
    services.legal_hold_release(actor=compliance_officer, hold_id=hold.pk)
    assert services.retention_apply().messages == 1
    assert not Message.objects.filter(pk=message.pk).exists()


@pytest.mark.parametrize("role", ["member", "guest"])
def test_members_and_guests_cannot_set_policy_or_holds(role, user_factory, member):
    actor = user_factory(role)
    with pytest.raises(Forbidden):
        services.retention_policy_set(actor=actor, keep_days=1)
    with pytest.raises(Forbidden):
        services.legal_hold_create(actor=actor, name="x", reason="y", custodian_ids=[member.pk])


# --- Data-subject requests ----------------------------------------------------------------


def test_erasure_leaves_no_personal_data_in_the_profile(member, other_member, admin):
    channel = make_channel(member, members=[other_member])
    words = post(member, channel, "my words")
    post(other_member, channel, "a reply", thread_root_id=words.pk)
    messaging.activity_seen(actor=member)
    accounts.user_profile_update(user=member, full_name="Mia Maria Member", title="Engineer",
                                 status_text="On holiday")
    accounts.api_token_create(actor=member, user=member, name="script")
    messaging.draft_save(actor=member, conversation_id=channel.pk, text="half a secret")
    soon = (timezone.now() + timedelta(hours=1)).isoformat()
    messaging.scheduled_create(actor=member, conversation_id=channel.pk, text="a later secret", send_at=soon)
    messaging.reminder_set(actor=member, message_id=post(other_member, channel, "theirs").pk, in_minutes=5)
    original_email = member.email

    services.user_erase(actor=admin, user=member)

    member.refresh_from_db()
    profile = {f: getattr(member, f) for f in ("email", "display_name", "full_name", "title",
                                              "status_text", "status_emoji", "avatar")}
    assert original_email not in json.dumps(profile, default=str)
    assert "Mia" not in json.dumps(profile, default=str)
    assert profile["email"] == f"erased-{member.pk}@erased.invalid"
    assert not member.is_active and not member.has_usable_password()
    assert not ApiToken.objects.filter(user=member, revoked_at__isnull=True).exists()
    assert Message.objects.filter(author=member).count() == 1  # retention decides
    assert not Draft.objects.filter(user=member).exists()
    assert not ThreadFollow.objects.filter(user=member).exists()
    assert not ActivityState.objects.filter(user=member).exists()
    assert not ScheduledMessage.objects.filter(author=member).exists()
    assert not Reminder.objects.filter(user=member).exists()
    assert AuditEvent.objects.filter(action="data_subject.erased").exists()


def test_erasure_can_remove_messages_except_held_ones(member, admin, compliance_officer):
    channel, held = make_channel(member), make_channel(member)
    post(member, channel, "goes")
    kept = post(member, held, "stays")
    services.legal_hold_create(actor=compliance_officer, name="H", reason="r",
                               conversation_ids=[held.pk])
    result = services.user_erase(actor=admin, user=member, remove_messages=True)
    assert result == {"messages_removed": 1, "messages_kept_on_hold": 1}
    assert list(Message.objects.filter(author=member).values_list("pk", flat=True)) == [kept.pk]


def test_a_data_subject_export_holds_their_profile_and_messages(member, other_member,
                                                               compliance_officer):
    from tests.e2ee.helpers import publish

    channel = make_channel(other_member, members=[member])
    mine = post(member, channel, "about me")
    post(other_member, channel, "not mine")
    messaging.draft_save(actor=member, conversation_id=channel.pk, text="still thinking")
    messaging.draft_save(actor=other_member, conversation_id=channel.pk, text="not my draft")
    post(other_member, channel, "a reply", thread_root_id=mine.pk)
    soon = (timezone.now() + timedelta(hours=1)).isoformat()
    messaging.scheduled_create(actor=member, conversation_id=channel.pk, text="said later", send_at=soon)
    messaging.reminder_set(actor=member, message_id=mine.pk, in_minutes=30)
    publish(member)
    publish(other_member)
    job = services.subject_export_start(actor=compliance_officer, subject=member)
    job = services.export_run(job_id=job.pk)
    with job.archive.open("rb") as stream:
        bundle = zipfile.ZipFile(io.BytesIO(stream.read()))
    verify_checksums(bundle)
    profile = json.loads(bundle.read("profile.json"))
    assert profile["email"] == member.email
    assert [m["conversation"] for m in profile["memberships"]] == [channel.pk]
    assert [(d["conversation"], d["text"]) for d in profile["drafts"]] == [(channel.pk, "still thinking")]
    assert [(f["root"], f["following"]) for f in profile["followed_threads"]] == [(mine.pk, True)]
    assert profile["share_read_receipts"] is True
    assert [(s["text"], s["state"]) for s in profile["scheduled_messages"]] == [("said later", "pending")]
    assert [r["message"] for r in profile["reminders"]] == [mine.pk]
    (key,) = profile["encryption_keys"]  # theirs only
    stored = IdentityKey.objects.get(user=member)
    assert (key["fingerprint"], key["backup"]) == (stored.fingerprint, stored.backup)
    assert [json.loads(x)["id"] for x in bundle.read("messages.jsonl").splitlines()] == [mine.pk]
