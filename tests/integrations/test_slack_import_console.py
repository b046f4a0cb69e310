"""The console's Slack import page: an owner or admin uploads an export, a worker imports
it through the same service as the command, the page shows progress and the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.models import AuditEvent
from integrations import services
from integrations.models import SlackImportRun, SlackImportStatus
from messaging.models import Conversation, Message
from tests.integrations.test_slack_import import build_export, snapshot

pytestmark = pytest.mark.django_db

PAGE = "/console/import/"


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload(path: Path, name: str = "slack.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, path.read_bytes(), content_type="application/zip")


def test_only_owners_and_admins_may_use_the_page(member, guest, compliance_officer, admin, owner,
                                                 tmp_path):
    export = build_export(tmp_path / "slack.zip")
    for person in (member, guest, compliance_officer):
        assert browser_for(person).get(PAGE).status_code == 403
        assert browser_for(person).post(PAGE, {"export": upload(export)}).status_code == 403
    assert not SlackImportRun.objects.exists()
    for person in (admin, owner):
        assert browser_for(person).get(PAGE).status_code == 200
    assert "Import from Slack" in browser_for(admin).get("/console/").content.decode()
    assert "Import from Slack" not in browser_for(compliance_officer).get(
        "/console/").content.decode()


def test_an_admin_imports_an_export_from_the_console(admin, tmp_path,
                                                     django_capture_on_commit_callbacks):
    export = build_export(tmp_path / "slack.zip")
    client = browser_for(admin)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(PAGE, {"export": upload(export)})

    assert response.status_code == 302
    run = SlackImportRun.objects.get()
    assert run.status == SlackImportStatus.DONE and run.done == run.total == 19
    assert run.report["messages"] == 17 and run.report["placeholders"] == 2
    assert not run.archive  # removed once imported
    assert Conversation.objects.filter(name="general").exists()
    assert Message.objects.count() == 17
    page = client.get(PAGE).content.decode()
    assert "slack.zip" in page and "Done" in page and "people_created" in page
    progress = client.get(PAGE + "progress/").json()
    assert progress == {"items": [{"id": f"import-{run.pk}", "value": 19, "max": 19,
                                   "finished": True, "text": "Done"}]}
    actions = list(AuditEvent.objects.filter(action__startswith="slack.").order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["slack.import_requested", "slack.imported"]


def test_a_refused_export_shows_its_problems_and_changes_nothing(admin, tmp_path,
                                                                 django_capture_on_commit_callbacks):
    export = build_export(tmp_path / "slack.zip", drop=("users.json",))
    client = browser_for(admin)
    before = snapshot()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(PAGE, {"export": upload(export)})

    run = SlackImportRun.objects.get()
    assert run.status == SlackImportStatus.REFUSED
    assert run.problems == ["users.json is missing: this is not a Slack workspace export"]
    assert "users.json is missing" in client.get(PAGE).content.decode()
    assert snapshot() == before


def test_a_dry_run_from_the_console_changes_nothing(admin, tmp_path,
                                                    django_capture_on_commit_callbacks):
    export = build_export(tmp_path / "slack.zip")
    client = browser_for(admin)
    before = snapshot()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(PAGE, {"export": upload(export), "dry_run": "on"})

    run = SlackImportRun.objects.get()
    assert run.status == SlackImportStatus.DONE and run.report["messages"] == 17
    assert snapshot() == before


def test_a_stopped_import_resumes_where_it_stopped(admin, tmp_path, monkeypatch,
                                                   django_capture_on_commit_callbacks):
    import importlib

    module = importlib.import_module("integrations.services.slack_import")
    real_store = module._store
    calls = []

    def failing_store(*args, **kwargs):
        calls.append(1)
        real_store(*args, **kwargs)
        if len(calls) == 2:
            raise RuntimeError("the worker was stopped")

    monkeypatch.setattr(module, "_store", failing_store)
    export = build_export(tmp_path / "slack.zip")
    client = browser_for(admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(PAGE, {"export": upload(export)})
    run = SlackImportRun.objects.get()
    assert run.status == SlackImportStatus.FAILED and "the worker was stopped" in run.error
    assert run.archive and "Resume" in client.get(PAGE).content.decode()
    monkeypatch.setattr(module, "_store", real_store)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{PAGE}{run.pk}/resume/")

    run.refresh_from_db()
    assert run.status == SlackImportStatus.DONE
    assert run.report["messages_already_imported"] == 8 and run.report["messages"] == 10
    assert Message.objects.count() == 17


def test_only_a_stopped_import_can_be_resumed(admin, tmp_path, django_capture_on_commit_callbacks):
    export = build_export(tmp_path / "slack.zip")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.slack_import_start(actor=admin, upload=upload(export))
    run.refresh_from_db()
    response = browser_for(admin).post(f"{PAGE}{run.pk}/resume/", follow=True)
    assert "Only an import stopped by an error, or one that has not moved for 15 minutes, " \
        "can be resumed." in response.content.decode()


def test_an_import_whose_worker_died_can_be_resumed_once_stalled(admin, tmp_path,
                                                                 django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    export = build_export(tmp_path / "slack.zip")
    run = services.slack_import_start(actor=admin, upload=upload(export))  # no worker ran it
    SlackImportRun.objects.filter(pk=run.pk).update(
        status=SlackImportStatus.RUNNING, progressed_at=timezone.now() - timedelta(minutes=5))
    with pytest.raises(Exception, match="can be resumed"):
        services.slack_import_resume(actor=admin, run_id=run.pk)
    SlackImportRun.objects.filter(pk=run.pk).update(
        progressed_at=timezone.now() - timedelta(minutes=16))

    with django_capture_on_commit_callbacks(execute=True):
        services.slack_import_resume(actor=admin, run_id=run.pk)

    run.refresh_from_db()
    assert run.status == SlackImportStatus.DONE and Message.objects.count() == 17


def test_an_export_larger_than_a_chat_upload_is_taken_up_to_its_own_limit(
        admin, tmp_path, settings, django_capture_on_commit_callbacks):
    export = build_export(tmp_path / "slack.zip")
    settings.FILE_UPLOAD_MAX_BYTES = 1000  # the export is larger than any chat upload
    client = browser_for(admin)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(PAGE, {"export": upload(export)})
    assert SlackImportRun.objects.get().status == SlackImportStatus.DONE

    settings.SLACK_IMPORT_MAX_UPLOAD_BYTES = 1000
    response = client.post(PAGE, {"export": upload(export)})
    assert response.status_code == 200
    assert "Larger than SLACK_IMPORT_MAX_UPLOAD_BYTES (1,000 bytes)" in response.content.decode()
    assert SlackImportRun.objects.count() == 1
