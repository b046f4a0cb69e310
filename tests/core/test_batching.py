"""Background jobs of sends, published in batches (core/batching.py) to a real Celery
worker on Redis: sends close together share one job, each message's side effects are done
and logged under its own send's request id, and what is queued at exit is published."""

from __future__ import annotations

import json
import logging
import os

import pytest
from celery import signals

from core import requestid
from core.batching import Batched
from messaging.models import PendingNotification
from messaging.services import messages
from tests.factories import make_channel, make_user, post, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published():
    """The argument lists of the messages_created jobs this process publishes."""
    jobs: list[list] = []

    def record(sender=None, body=None, **_):
        if sender == "messaging.tasks.messages_created":
            jobs.append(json.loads(json.dumps(body[0][0])))  # as the worker reads it

    signals.after_task_publish.connect(record, weak=False)
    yield jobs
    signals.after_task_publish.disconnect(record)


class RequestIds(logging.Handler):
    """Each line messaging.tasks logs, with the request id in force when it was logged."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), requestid.request_id.get()))


@pytest.fixture
def task_log():
    handler = RequestIds()
    logger = logging.getLogger("messaging.tasks")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def test_sends_close_together_share_one_job_and_keep_their_request_ids(real_worker, published,
                                                                       task_log, monkeypatch):
    ana = make_user(name="Ana")
    people = [make_user(name=f"Person {i}") for i in range(3)]
    channel = make_channel(ana, members=people)
    monkeypatch.setattr(messages.messages_created_jobs, "linger", 1.0)

    sent = []
    for number, person in enumerate(people):
        token = requestid.request_id.set(f"send-{number}")
        try:
            sent.append(post(ana, channel, f"<@{person.pk}> look"))
        finally:
            requestid.request_id.reset(token)

    wait_for(lambda: PendingNotification.objects.filter(user__in=people).count() == 3, seconds=20)
    assert published == [[[m.pk, False, f"send-{n}"] for n, m in enumerate(sent)]]
    expected = [(f"message {m.pk}: 1 notifications queued", f"send-{n}") for n, m in enumerate(sent)]
    wait_for(lambda: all(line in task_log for line in expected), seconds=10)


def test_flush_publishes_what_is_queued_and_one_failing_message_spares_the_others(
        real_worker, published, task_log):
    ana, ben = make_user(name="Ana"), make_user(name="Ben")
    channel = make_channel(ana, members=[ben])
    message = post(ana, channel, f"<@{ben.pk}> before the exit")
    wait_for(lambda: PendingNotification.objects.filter(user=ben).exists(), seconds=20)
    # Its thread never starts: only flush() publishes.
    jobs = Batched("messaging.tasks.messages_created", linger=60.0)
    jobs.waiting.append(("no id", False, "bad"))
    jobs.waiting.append((message.pk, False, "exit"))

    assert jobs.flush() == 2
    assert jobs.flush() == 0
    assert [["no id", False, "bad"], [message.pk, False, "exit"]] in published
    wait_for(lambda: any(line.startswith(f"message {message.pk}: ") and request == "exit"
                         for line, request in task_log), seconds=20)
    assert ("side effects of message no id failed", "bad") in task_log
    assert PendingNotification.objects.filter(user=ben).count() == 1  # not queued twice


def test_items_the_publisher_is_lingering_over_are_published_by_flush(real_worker, published):
    jobs = Batched("messaging.tasks.messages_created", linger=60.0)
    jobs.add((10**12, False, "a"))  # no such messages: nothing to do but log
    jobs.add((10**12 + 1, False, "b"))
    wait_for(lambda: jobs.publisher_pid is not None, seconds=5)

    assert jobs.flush() == 2  # the thread waits 60 s, and holds nothing meanwhile
    assert published == [[[10**12, False, "a"], [10**12 + 1, False, "b"]]]
    assert jobs.flush() == 0


def test_a_forked_child_starts_with_an_empty_batch():
    """Its parent publishes what it held; the child publishing it too would send it twice."""
    jobs = Batched("messaging.tasks.messages_created", linger=60.0)
    jobs.waiting.append((1, False, None))
    child = os.fork()
    if child == 0:  # the child: report, and leave without running anything else
        os._exit(0 if jobs.waiting == [] and jobs.publisher_pid is None else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert jobs.waiting == [(1, False, None)]  # the parent keeps it
