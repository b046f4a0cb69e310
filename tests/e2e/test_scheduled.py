"""Later, in the browser (issue 28): a message scheduled from the composer arrives at its
minute, sent by a real Celery worker (with its beat, as production runs them), and a
reminder set from a message's menu arrives as a notification on the page and on the
desktop. The wait is real: the next minute that leaves time to set both up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from playwright.sync_api import expect

from messaging.models import Message, Reminder, ReminderState, ScheduledMessage, ScheduledState
from tests.e2e import message_item
from tests.e2e.conftest import Person
from tests.factories import make_channel, make_user, post, wait_for
from tests.servers import ROOT, DaphneServer, server_env, wait_until_servers_idle

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Records desktop notifications instead of showing them, as if the person had allowed them.
NOTIFICATIONS = """
window.__notifications = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notifications.push({ title, body: (options || {}).body }); }
  close() {}
};
"""


@pytest.fixture
def with_worker(transactional_db, tmp_path):
    """A daphne process that publishes its tasks (not eager) and a Celery worker with its
    beat on a queue of their own; stopped before the test's data is removed."""
    if not (settings.TEST_USES_POSTGRES and settings.TEST_USES_REDIS):
        pytest.skip("the worker test needs PostgreSQL and Redis (CI requires them)")
    queue = f"tclater-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    env = {"CELERY_TASK_ALWAYS_EAGER": "0", "CELERY_QUEUE": queue}
    server = DaphneServer(tmp_path / "daphne").start(**env)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "teamchat", "worker", "--beat", "--pool=solo",
             "-Q", queue, "-n", f"{queue}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel=INFO"],
            cwd=ROOT, env=server_env(tmp_path / "worker", LOG_LEVEL="INFO", **env), stdout=log,
            stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "ready" in log_path.read_text() or worker.poll() is not None, seconds=60)
        assert worker.poll() is None, log_path.read_text()
        yield server
    finally:
        os.kill(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.stop()
        wait_until_servers_idle()


def next_minute(room: timedelta = timedelta(seconds=20)) -> datetime:
    """The next whole minute at least `room` away."""
    now = datetime.now(UTC)
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return minute if minute - now >= room else minute + timedelta(minutes=1)


def test_a_scheduled_message_arrives_at_its_minute_and_a_reminder_arrives(browser, with_worker, off_loop):
    ana = off_loop(make_user, name="Ana Lopez", timezone="Asia/Kolkata")
    ben = off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ben, "launch", members=[ana])
    off_loop(post, ben, channel, "the launch checklist")
    laptop, reader = Person(browser, with_worker, ana), Person(browser, with_worker, ben)
    try:
        laptop.page.close()
        laptop.context.add_init_script(NOTIFICATIONS)
        laptop.open()
        laptop.go(channel.pk)
        reader.go(channel.pk)
        minute = next_minute()
        local = minute.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%dT%H:%M")  # her own clock
        page = laptop.page

        # "Send at" from the composer, at a chosen time in her time zone.
        page.fill("#composer-input", "Ship it at the minute")
        page.get_by_role("button", name="Schedule message", exact=True).click()
        dialog = page.locator("#dialog")
        dialog.get_by_label("At a chosen time").check()
        dialog.get_by_label("Date and time (Asia/Kolkata)").fill(local)
        dialog.get_by_role("button", name="Schedule", exact=True).click()
        expect(dialog).not_to_be_visible()
        expect(page.locator("#composer-input")).to_have_value("")

        # "Remind me" from the message's menu, at the same minute.
        checklist = message_item(page, "the launch checklist")
        checklist.hover()
        checklist.get_by_role("button", name="Remind me").click()
        dialog.get_by_label("At a chosen time").check()
        dialog.get_by_label("Date and time (Asia/Kolkata)").fill(local)
        dialog.get_by_role("button", name="Set reminder").click()
        expect(dialog).not_to_be_visible()

        # Both are listed where she manages them.
        page.get_by_role("button", name="Scheduled and reminders").click()
        expect(page.get_by_role("list", name="Scheduled messages")).to_contain_text("Ship it at the minute")
        page.get_by_role("tab", name="Reminders").click()
        expect(page.get_by_role("list", name="Reminders")).to_contain_text("the launch checklist")
        assert datetime.now(UTC) < minute, "the setting up took longer than the room left"
        expect(message_item(reader.page, "Ship it at the minute")).to_have_count(0)

        # At the minute: the message arrives for Ben, and Ana's reminder on her page.
        wait_ms = (minute - datetime.now(UTC)).total_seconds() * 1000 + 20_000
        expect(message_item(reader.page, "Ship it at the minute")).to_have_count(1, timeout=wait_ms)
        notice = page.locator("#notices .notice")
        expect(notice).to_contain_text("Reminder: Ben Okafor in #launch", timeout=10_000)
        expect(notice).to_contain_text("the launch checklist")
        desktop = page.evaluate("window.__notifications")
        assert [n["title"] for n in desktop] == ["⏰ Reminder: Ben Okafor in #launch"]
        expect(message_item(page, "Ship it at the minute")).to_have_count(1)

        sent = off_loop(lambda: list(Message.objects.filter(author=ana, text="Ship it at the minute")))
        assert len(sent) == 1  # the minute's task and beat's sweep both ran: one message
        assert minute <= sent[0].created_at < minute + timedelta(seconds=20)
        scheduled = off_loop(lambda: ScheduledMessage.objects.get(author=ana))
        assert (scheduled.state, scheduled.message_id, scheduled.send_at) == (
            ScheduledState.SENT, sent[0].pk, minute)
        reminder = off_loop(lambda: Reminder.objects.get(user=ana))
        assert reminder.state == ReminderState.DELIVERED and reminder.delivered_at >= minute
        notice.get_by_role("button", name="Dismiss").click()
        expect(notice).to_have_count(0)
        assert laptop.errors == reader.errors == []
    finally:
        laptop.close()
        reader.close()
