"""The scheduled daily export (docs/compliance.md, "The daily export"): each UTC day's
messages in each format of DAILY_EXPORT_FORMATS, written by the usual export and
delivered, with its checksum and manifest, to DAILY_EXPORT_TARGET (a folder, or
s3://bucket/prefix). Each day and format is delivered once, whichever worker gets there;
a day missed (a worker down, a failed delivery) is caught up on the next run."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compliance.models import DailyExport, ExportFormat
from compliance.services.exports import export_run, export_start
from core.audit import audit_record
from core.errors import InvalidInput

# A claim older than this, never delivered, is taken to be a worker that died.
STALE = timedelta(hours=2)


class Target(Protocol):
    def deliver(self, name: str, archive: IO[bytes], sha256: str, manifest: bytes) -> str: ...


class FolderTarget:
    """A folder on this machine (or a share mounted on it)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def _write(self, name: str, source: IO[bytes]) -> None:
        # Complete or absent: written beside, then renamed into place.
        fd, partial = tempfile.mkstemp(dir=self.path, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
            os.replace(partial, self.path / name)
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise

    def deliver(self, name: str, archive: IO[bytes], sha256: str, manifest: bytes) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        self._write(f"{name}.zip", archive)
        self._write(f"{name}.manifest.json", io.BytesIO(manifest))
        # Last: an archive's pick-up may take the checksum's arrival as "complete".
        self._write(f"{name}.zip.sha256", io.BytesIO(f"{sha256}  {name}.zip\n".encode()))
        return str(self.path / f"{name}.zip")


class S3Target:
    """s3://bucket/prefix on the S3-compatible store of S3_CONNECTION."""

    def __init__(self, url: str) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.bucket, self.prefix = bucket, prefix.strip("/")

    def _client(self) -> Any:
        import boto3

        connection = settings.S3_CONNECTION
        return boto3.client("s3", endpoint_url=connection["endpoint_url"],
                            region_name=connection["region_name"],
                            aws_access_key_id=connection["access_key"],
                            aws_secret_access_key=connection["secret_key"])

    def deliver(self, name: str, archive: IO[bytes], sha256: str, manifest: bytes) -> str:
        client = self._client()
        key = f"{self.prefix}/{name}" if self.prefix else name
        client.upload_fileobj(archive, self.bucket, f"{key}.zip",
                              ExtraArgs={"ContentType": "application/zip", "Metadata": {"sha256": sha256}})
        client.put_object(Bucket=self.bucket, Key=f"{key}.manifest.json", Body=manifest,
                          ContentType="application/json")
        client.put_object(Bucket=self.bucket, Key=f"{key}.zip.sha256",
                          Body=f"{sha256}  {name}.zip\n".encode(), ContentType="text/plain")
        return f"s3://{self.bucket}/{key}.zip"


def daily_export_settings_problems() -> list[str]:
    """What is wrong with the DAILY_EXPORT_* settings (manage.py check names each)."""
    problems = [f"DAILY_EXPORT_FORMATS: {name!r} is not one of {', '.join(ExportFormat.values)}."
                for name in settings.DAILY_EXPORT_FORMATS if name not in ExportFormat.values]
    target = settings.DAILY_EXPORT_TARGET
    if settings.DAILY_EXPORT_FORMATS and not target:
        problems.append("DAILY_EXPORT_TARGET: a folder or s3://bucket/prefix is needed "
                        "when DAILY_EXPORT_FORMATS names formats.")
    elif target.startswith("s3://") and not target.removeprefix("s3://").split("/")[0]:
        problems.append("DAILY_EXPORT_TARGET: s3:// needs a bucket name (s3://bucket/prefix).")
    elif target and not target.startswith("s3://") and not os.path.isabs(target):
        problems.append(f"DAILY_EXPORT_TARGET: {target!r} is neither an absolute folder path "
                        "nor s3://bucket/prefix.")
    return problems


def daily_export_target() -> Target:
    problems = daily_export_settings_problems()
    if problems:
        raise InvalidInput(" ".join(problems))
    target = settings.DAILY_EXPORT_TARGET
    return S3Target(target) if target.startswith("s3://") else FolderTarget(target)


def _claim(day: date, format: str, now: datetime) -> DailyExport | None:
    """This day and format for this worker, unless delivered or being written elsewhere."""
    with transaction.atomic():
        row, created = DailyExport.objects.select_for_update().get_or_create(
            day=day, format=format, defaults={"started_at": now})
        if row.delivered_at or (not created and not row.error and row.started_at > now - STALE):
            return None
        if not created:
            row.started_at, row.error = now, ""
            row.save(update_fields=["started_at", "error"])
    return row


def _deliver(row: DailyExport, target: Target) -> DailyExport:
    start = datetime.combine(row.day, time.min, tzinfo=UTC)
    try:
        job = export_start(actor=None, format=row.format, start=start, end=start + timedelta(days=1),
                           with_files=settings.DAILY_EXPORT_WITH_FILES, in_background=False,
                           via="daily export")
        job = export_run(job_id=job.pk)
        with job.archive.open("rb") as archive:
            with zipfile.ZipFile(archive) as bundle:
                manifest = bundle.read("manifest.json")
            archive.seek(0)
            location = target.deliver(f"teamchat-{row.format}-{row.day.isoformat()}", archive,
                                      job.sha256, manifest)
    except Exception as error:  # noqa: BLE001 - kept on the row, tried again next run
        row.error = f"{type(error).__name__}: {error}"[:2000]
        row.save(update_fields=["error"])
        audit_record(action="export.delivery_failed", target=row,
                     data={"day": row.day.isoformat(), "format": row.format, "error": row.error})
        return row
    row.job, row.location, row.sha256, row.delivered_at = job, location, job.sha256, timezone.now()
    row.save(update_fields=["job", "location", "sha256", "delivered_at"])
    audit_record(action="export.delivered", target=job,
                 data={"day": row.day.isoformat(), "format": row.format, "location": location,
                       "sha256": job.sha256, "counts": json.loads(manifest)["counts"]})
    return row


def daily_exports_run(*, now: datetime | None = None) -> list[DailyExport]:
    """Export and deliver every day of the catch-up window before today (UTC), in every
    configured format, not yet delivered. Returns the rows this run worked on."""
    if not settings.DAILY_EXPORT_FORMATS:
        return []
    target = daily_export_target()
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    worked = []
    for back in range(max(1, settings.DAILY_EXPORT_CATCH_UP_DAYS), 0, -1):
        for format in settings.DAILY_EXPORT_FORMATS:
            row = _claim(today - timedelta(days=back), format, now)
            if row is not None:
                worked.append(_deliver(row, target))
    return worked
