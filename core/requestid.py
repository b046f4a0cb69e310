"""Request ids: one id follows a piece of work from the HTTP request or WebSocket frame
that started it into every log line it writes and into the Celery tasks it queues.

The id lives in a ContextVar. Django runs each request in its own context, the consumer
sets a fresh id for each frame it receives, asgiref copies the context into the threads
that run database work, and Celery carries the id in a message header from the process
that publishes a task to the worker that runs it (docs/deploy.md, "Logs").
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# The Celery message header carrying the id to the worker.
TASK_HEADER = "teamchat_request_id"
# An id handed to us by the proxy or a client is kept only if it looks like one: it ends
# up in log lines and in a response header.
VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

request_id: ContextVar[str | None] = ContextVar("teamchat_request_id", default=None)
# Which door the current work came in by: rest, webhook, web, websocket (metrics label).
origin: ContextVar[str] = ContextVar("teamchat_origin", default="other")

access_logger = logging.getLogger("teamchat.access")


def new_id() -> str:
    return uuid.uuid4().hex


def begin_frame() -> str:
    """Give the WebSocket frame about to be handled its own id."""
    value = new_id()
    request_id.set(value)
    origin.set("websocket")
    return value


def _origin_of(path: str) -> str:
    if path.startswith("/api/v1/hooks/"):
        return "webhook"
    if path.startswith("/api/"):
        return "rest"
    return "web"


class RequestIdMiddleware:
    """Takes the proxy's X-Request-ID (nginx's $request_id) or makes one, echoes it in the
    response, and writes one access log line per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        value = offered if VALID_ID.match(offered) else new_id()
        id_token = request_id.set(value)
        origin_token = origin.set(_origin_of(request.path))
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = value
            access_logger.info("%s %s %s %.1fms", request.method, request.path,
                               response.status_code, (time.monotonic() - started) * 1000)
            return response
        finally:
            origin.reset(origin_token)
            request_id.reset(id_token)


# --- Logging -------------------------------------------------------------------------------

class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (`-` outside any request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Runs after the handler's filters, so the message and the
    traceback it writes are the ones RedactSecrets already masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or "-",
            "process": record.process,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


JsonFormatter.converter = time.gmtime


# --- Celery ----------------------------------------------------------------------------------

_task_tokens: dict[str, Token] = {}


def add_request_id_header(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """before_task_publish: a task queued while handling a request carries its id."""
    value = request_id.get()
    if value and headers is not None:
        headers[TASK_HEADER] = value


def restore_request_id(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """task_prerun: the worker logs the task's lines under the publisher's id. A task run
    eagerly (no message, no header) keeps the id of the code that called it."""
    request = getattr(task, "request", None)
    value = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        TASK_HEADER)
    if isinstance(value, str) and VALID_ID.match(value) and task_id:
        _task_tokens[task_id] = request_id.set(value)


def forget_request_id(task_id: str | None = None, **_: Any) -> None:
    """task_postrun: leave the worker's context as it was before the task."""
    token = _task_tokens.pop(task_id or "", None)
    if token is None:
        return
    try:
        request_id.reset(token)
    except ValueError:  # a pool that ran prerun in another context: just clear it
        request_id.set(None)
