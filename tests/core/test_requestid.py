"""Request ids: echoed in X-Request-ID, on every log line (JSON or plain), and carried to
Celery tasks in a message header. The whole trip through a real worker is in
test_scale_out.py."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from types import SimpleNamespace

import pytest
from django.test import Client

from core import requestid
from teamchat.log import RedactSecrets


@pytest.fixture
def console():
    """The configured console handler, writing into a buffer for one test."""
    (handler,) = [h for h in logging.getLogger().handlers
                  if any(isinstance(f, RedactSecrets) for f in h.filters)]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield handler, stream
    handler.setStream(previous)


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.django_db
def test_an_offered_request_id_is_kept_echoed_and_logged(console):
    _, stream = console
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="edge-42.abc")

    assert response["X-Request-ID"] == "edge-42.abc"
    (access,) = [line for line in json_lines(stream) if line["logger"] == "teamchat.access"]
    assert access["request_id"] == "edge-42.abc"
    assert access["message"].startswith("GET /healthz 200 ")
    assert access["level"] == "INFO"
    assert requestid.request_id.get() is None  # nothing leaks past the request


@pytest.mark.django_db
def test_a_missing_or_malformed_request_id_is_replaced_by_a_fresh_one():
    fresh = Client().get("/healthz")["X-Request-ID"]
    replaced = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id\r\nInjected: 1")["X-Request-ID"]
    other = Client().get("/healthz")["X-Request-ID"]

    assert len(fresh) == 32 and int(fresh, 16) >= 0
    assert len(replaced) == 32 and "Injected" not in replaced
    assert len({fresh, replaced, other}) == 3


def test_lines_outside_a_request_carry_a_dash_and_plain_lines_show_the_id(console):
    handler, stream = console
    logger = logging.getLogger("teamchat.test")
    logger.warning("outside")
    token = requestid.request_id.set("inside-1")
    try:
        logger.warning("inside")
        previous = handler.formatter
        handler.setFormatter(logging.Formatter("%(levelname)s [%(request_id)s] %(message)s"))
        logger.warning("plain")
        handler.setFormatter(previous)
    finally:
        requestid.request_id.reset(token)

    lines = stream.getvalue().splitlines()
    assert json.loads(lines[0])["request_id"] == "-"
    assert json.loads(lines[1])["request_id"] == "inside-1"
    assert lines[2] == "WARNING [inside-1] plain"


def test_a_task_published_during_a_request_carries_its_id_to_the_worker():
    headers: dict = {}
    token = requestid.request_id.set("req-7")
    try:
        requestid.add_request_id_header(headers=headers)
    finally:
        requestid.request_id.reset(token)
    # In the worker: the header comes back as an attribute of the task's request.
    task = SimpleNamespace(request=SimpleNamespace(**headers, headers=None))
    requestid.restore_request_id(task_id="t-1", task=task)
    during = requestid.request_id.get()
    requestid.forget_request_id(task_id="t-1")

    assert headers == {requestid.TASK_HEADER: "req-7"}
    assert during == "req-7"
    assert requestid.request_id.get() is None


def test_a_task_run_in_place_keeps_the_callers_id():
    token = requestid.request_id.set("caller-1")
    try:
        requestid.restore_request_id(task_id="t-2", task=SimpleNamespace(
            request=SimpleNamespace(headers=None)))
        kept = requestid.request_id.get()
        requestid.forget_request_id(task_id="t-2")
        after = requestid.request_id.get()
    finally:
        requestid.request_id.reset(token)

    assert kept == after == "caller-1"


def test_a_websocket_frame_gets_its_own_id_and_origin():
    def two_frames() -> tuple[str, str, str | None, str]:
        first, second = requestid.begin_frame(), requestid.begin_frame()
        return first, second, requestid.request_id.get(), requestid.origin.get()

    # A copy of the context, as each consumer runs in its own task.
    first, second, current, origin = contextvars.copy_context().run(two_frames)

    assert first != second
    assert current == second
    assert origin == "websocket"
    assert requestid.request_id.get() is None
