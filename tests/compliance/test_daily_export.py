"""The scheduled daily export (issue 30): each UTC day's messages in each configured
format, delivered once with checksum and manifest to a folder or an S3 bucket (a real
S3-compatible server on loopback), missed days caught up, failures kept and retried."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from moto.server import ThreadedMotoServer

from compliance.models import DailyExport, ExportJob
from compliance.services import daily_exports_run
from compliance.tasks import run_daily_exports
from core.models import AuditEvent
from messaging.models import Message
from tests.factories import make_channel, post
from tests.servers import free_port

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 12, 1, 20, tzinfo=UTC)  # the run: twenty past one on the 12th


def dated(message: Message, when: datetime) -> Message:
    Message.objects.filter(pk=message.pk).update(created_at=when)
    return message


@pytest.fixture
def days(member, other_member):
    """A message on each of the 10th, 11th and 12th."""
    channel = make_channel(member, "desk", members=[other_member])
    return {day: dated(post(member, channel, f"written on the {day}th"),
                       datetime(2026, 3, day, 15, 0, tzinfo=UTC)) for day in (10, 11, 12)}


@pytest.fixture
def daily(settings, tmp_path):
    settings.DAILY_EXPORT_FORMATS = ["jsonl", "actiance"]
    settings.DAILY_EXPORT_TARGET = str(tmp_path / "archive")
    settings.DAILY_EXPORT_CATCH_UP_DAYS = 2
    return tmp_path / "archive"


def test_each_day_before_today_is_delivered_once_per_format_with_checksum_and_manifest(days, daily):
    rows = daily_exports_run(now=NOW)
    assert sorted((str(r.day), r.format) for r in rows) == [
        ("2026-03-10", "actiance"), ("2026-03-10", "jsonl"),
        ("2026-03-11", "actiance"), ("2026-03-11", "jsonl")]
    assert all(r.delivered_at and not r.error for r in rows)

    zip_path = daily / "teamchat-jsonl-2026-03-11.zip"
    data = zip_path.read_bytes()
    assert (daily / "teamchat-jsonl-2026-03-11.zip.sha256").read_text() == (
        f"{hashlib.sha256(data).hexdigest()}  teamchat-jsonl-2026-03-11.zip\n")
    bundle = zipfile.ZipFile(zip_path)
    assert (daily / "teamchat-jsonl-2026-03-11.manifest.json").read_bytes() == bundle.read("manifest.json")
    texts = [json.loads(line)["text"] for line in bundle.read("messages.jsonl").decode().splitlines()]
    assert texts == ["written on the 11th"]  # the day, the whole day, and nothing else
    actiance = zipfile.ZipFile(daily / "teamchat-actiance-2026-03-10.zip").read("actiance/export.xml")
    assert b"written on the 10th" in actiance and b"11th" not in actiance
    assert not list(daily.glob(".*"))  # no partial files left behind

    delivered = AuditEvent.objects.filter(action="export.delivered")
    assert delivered.count() == 4
    event = delivered.get(data__day="2026-03-11", data__format="jsonl")
    assert event.data["location"] == str(zip_path) and event.data["counts"]["messages"] == 1
    requested = AuditEvent.objects.filter(action="export.requested").values_list("data__via", flat=True)
    assert set(requested) == {"daily export"}

    # The next hour's run finds everything delivered: nothing is written again.
    jobs = ExportJob.objects.count()
    assert daily_exports_run(now=NOW + timedelta(hours=1)) == []
    assert ExportJob.objects.count() == jobs
    # The next day brings the 12th, and only it.
    (row, other) = daily_exports_run(now=NOW + timedelta(days=1))
    assert {row.day.isoformat(), other.day.isoformat()} == {"2026-03-12"}


def test_a_failed_delivery_is_kept_audited_and_caught_up_on_the_next_run(days, daily, settings, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    settings.DAILY_EXPORT_TARGET = str(blocked)
    settings.DAILY_EXPORT_FORMATS = ["jsonl"]
    rows = daily_exports_run(now=NOW)
    assert len(rows) == 2 and all(r.error and not r.delivered_at for r in rows)
    assert "not-a-folder" in rows[0].error
    assert AuditEvent.objects.filter(action="export.delivery_failed").count() == 2

    settings.DAILY_EXPORT_TARGET = str(daily)
    rows = daily_exports_run(now=NOW + timedelta(hours=1))
    assert sorted(str(r.day) for r in rows if r.delivered_at) == ["2026-03-10", "2026-03-11"]
    assert (daily / "teamchat-jsonl-2026-03-10.zip").exists()


def test_a_day_another_worker_is_writing_is_left_to_it_unless_it_died(days, daily, settings):
    settings.DAILY_EXPORT_FORMATS = ["jsonl"]
    DailyExport.objects.create(day=NOW.date() - timedelta(days=1), format="jsonl",
                               started_at=NOW - timedelta(minutes=5))
    DailyExport.objects.create(day=NOW.date() - timedelta(days=2), format="jsonl",
                               started_at=NOW - timedelta(hours=3))
    (row,) = daily_exports_run(now=NOW)
    assert str(row.day) == "2026-03-10" and row.delivered_at  # the stale claim is taken over
    assert not DailyExport.objects.get(day="2026-03-11").delivered_at


def test_the_daily_export_goes_to_an_s3_bucket(days, daily, settings):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        s3.create_bucket(Bucket="records")
        settings.S3_CONNECTION = {"endpoint_url": endpoint, "region_name": "us-east-1",
                                  "access_key": "test", "secret_key": "test"}
        settings.DAILY_EXPORT_TARGET = "s3://records/teamchat/daily"
        settings.DAILY_EXPORT_FORMATS = ["globalrelay"]
        settings.DAILY_EXPORT_CATCH_UP_DAYS = 1
        (row,) = daily_exports_run(now=NOW)
        assert row.location == "s3://records/teamchat/daily/teamchat-globalrelay-2026-03-11.zip"
        key = "teamchat/daily/teamchat-globalrelay-2026-03-11"
        data = s3.get_object(Bucket="records", Key=f"{key}.zip")["Body"].read()
        assert hashlib.sha256(data).hexdigest() == row.sha256
        assert s3.get_object(Bucket="records", Key=f"{key}.zip.sha256")["Body"].read().decode() == (
            f"{row.sha256}  teamchat-globalrelay-2026-03-11.zip\n")
        manifest = json.loads(s3.get_object(Bucket="records", Key=f"{key}.manifest.json")["Body"].read())
        assert manifest["counts"]["messages"] == 1
        assert any(name.startswith("globalrelay/") for name in zipfile.ZipFile(io.BytesIO(data)).namelist())
    finally:
        server.stop()


def test_the_beat_task_runs_it_and_is_off_by_default(days, settings):
    settings.DAILY_EXPORT_FORMATS = []
    assert run_daily_exports.delay().get() == []
    assert not DailyExport.objects.exists()


@pytest.mark.parametrize(("formats", "target", "named"), [
    (["jsonl", "pdf"], "/srv/archive", "'pdf' is not one of"),
    (["jsonl"], "", "DAILY_EXPORT_TARGET: a folder or s3://bucket/prefix is needed"),
    (["jsonl"], "archive", "neither an absolute folder path"),
    (["jsonl"], "s3:///prefix", "s3:// needs a bucket name"),
])
def test_manage_py_check_names_what_is_wrong_with_the_settings(settings, formats, target, named):
    settings.DAILY_EXPORT_FORMATS, settings.DAILY_EXPORT_TARGET = formats, target
    with pytest.raises(SystemCheckError, match=named):
        call_command("check")
    with pytest.raises(Exception, match=named):
        daily_exports_run(now=NOW)
    assert not DailyExport.objects.exists()
