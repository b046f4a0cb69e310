"""The console's door to the Slack import: an uploaded export, imported by a worker
(integrations.tasks.run_slack_import) through the same `slack_import` as the command,
with its progress and report kept on a SlackImportRun."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.audit import audit_record
from core.errors import InvalidInput, NotFound
from files.services import clean_file_name
from integrations.models import SlackImportRun, SlackImportStatus
from integrations.services.slack_import import require_importer, slack_import
from integrations.slack_export import ExportRefused, read_export

logger = logging.getLogger(__name__)

# The console's page polls every few seconds: write progress no more often than this.
PROGRESS_INTERVAL_SECONDS = 1.0
# A running import whose progress has not moved for this long lost its worker (a crash, a
# deploy: the redelivered task finds the run taken and leaves it); it may be resumed.
STALLED_AFTER = timedelta(minutes=15)


def slack_import_start(*, actor: User, upload: Any, dry_run: bool = False) -> SlackImportRun:
    """Keep the uploaded export and have a worker import it after commit."""
    require_importer(actor)
    if upload is None or not getattr(upload, "size", 0):
        raise InvalidInput.for_field("export", "Choose the export's .zip file.")
    run = SlackImportRun(requested_by=actor, name=clean_file_name(upload.name), dry_run=dry_run)
    run.archive.save("export.zip", upload, save=False)
    try:
        with transaction.atomic():
            run.save(force_insert=True)
            audit_record(action="slack.import_requested", actor=actor, target=run,
                         data={"export": run.name, "dry_run": dry_run, "via": "console"})
            transaction.on_commit(lambda: _schedule(run.pk))
    except Exception:
        run.archive.delete(save=False)
        raise
    return run


def _schedule(run_id: int) -> None:
    from integrations.tasks import run_slack_import

    run_slack_import.delay(run_id)


def slack_import_resume(*, actor: User, run_id: Any) -> SlackImportRun:
    """Run a stopped import again: it continues from where it stopped."""
    require_importer(actor)
    with transaction.atomic():
        run = SlackImportRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise NotFound("No such import.")
        stalled = (run.status == SlackImportStatus.RUNNING
                   and (run.progressed_at or run.started_at or run.created_at)
                   < timezone.now() - STALLED_AFTER)
        if not (run.status == SlackImportStatus.FAILED or stalled) or not run.archive:
            raise InvalidInput("Only an import stopped by an error, or one that has not "
                               "moved for 15 minutes, can be resumed.", code="not_resumable")
        run.status = SlackImportStatus.PENDING
        run.error = ""
        run.save(update_fields=["status", "error"])
        audit_record(action="slack.import_resumed", actor=actor, target=run,
                     data={"export": run.name})
        transaction.on_commit(lambda: _schedule(run.pk))
    return run


def _finish(run: SlackImportRun, status: str, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(run, name, value)
    run.status = status
    run.finished_at = timezone.now()
    if status != SlackImportStatus.FAILED and run.archive:
        # Nothing more to do with it: the archive holds the whole workspace's history.
        run.archive.delete(save=False)
    run.save()


def slack_import_execute(*, run_id: int) -> SlackImportRun | None:
    """The worker's part: check the export, import it, keep the report. Never raises for
    a bad export or a failed import: the run records why."""
    claimed = SlackImportRun.objects.filter(pk=run_id, status=SlackImportStatus.PENDING).update(
        status=SlackImportStatus.RUNNING, started_at=timezone.now(), progressed_at=timezone.now())
    run = SlackImportRun.objects.select_related("requested_by").filter(pk=run_id).first()
    if run is None or not claimed:
        return run  # gone, or another worker has it
    with tempfile.TemporaryDirectory(prefix="slack-import-") as folder:
        local = Path(folder) / "export.zip"
        # The storage may be an object store: the zip reader wants a local, seekable file.
        with run.archive.open("rb") as source, local.open("wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
        try:
            export = read_export(local)
        except ExportRefused as refused:
            _finish(run, SlackImportStatus.REFUSED, problems=refused.problems)
            return run
        run.total = export.message_count
        run.save(update_fields=["total"])
        last_write = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last_write[0] >= PROGRESS_INTERVAL_SECONDS or done >= total:
                last_write[0] = now
                SlackImportRun.objects.filter(pk=run.pk).update(done=done, total=total,
                                                                progressed_at=timezone.now())

        try:
            report = slack_import(actor=run.requested_by, export=export, dry_run=run.dry_run,
                                  progress=progress)
        except Exception as error:  # recorded on the run; resuming continues from here
            logger.exception("slack import %s stopped", run.pk)
            run.refresh_from_db(fields=["done"])
            _finish(run, SlackImportStatus.FAILED, error=f"{type(error).__name__}: {error}")
            return run
    run.refresh_from_db(fields=["done"])
    _finish(run, SlackImportStatus.DONE, done=run.total,
            report={**report.counts(), "warnings": report.warnings, "created": report.created})
    return run
