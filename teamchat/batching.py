"""Celery jobs for many items at once, published by a thread of their own.

Every send queues a background job (its notifications, webhooks and link previews).
Published from the send's own thread, that job cost about 0.45 ms of the server's CPU
per message (docs/performance.md), before the sender's ack. A `Batched` task is published
by a thread of the process instead: it waits `linger` seconds after the first item for
others to join it, then publishes them all as one job. Each job runs at most `linger`
later; under load one publish carries many items.

In Celery's eager mode (the tests) the job runs at once, in the caller's thread.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import queue
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)
PUBLISH_ATTEMPTS = 4  # over 3.5 s: the broker restarting, say


class Batched:
    """`add(item)` queues an item; the task (by name) is called as
    `task.delay([item, ...])`."""

    def __init__(self, task_name: str, *, linger: float = 0.02, most: int = 500) -> None:
        self.task_name = task_name
        self.linger = linger
        self.most = most
        self.items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.publisher_pid: int | None = None  # the process whose thread publishes

    @property
    def task(self) -> Any:
        """The task, imported when first used (its module may import the caller's)."""
        module, _, name = self.task_name.rpartition(".")
        return getattr(importlib.import_module(module), name)

    def add(self, item: Any) -> None:
        if self.task.app.conf.task_always_eager:
            self.task.delay([item])
            return
        self.items.put(item)
        if self.publisher_pid != os.getpid():  # the first item here, or a forked child's
            with self.lock:
                if self.publisher_pid != os.getpid():
                    self.publisher_pid = os.getpid()
                    threading.Thread(target=self._publish_forever, daemon=True,
                                     name=f"batched {self.task_name}").start()
                    atexit.register(self.flush)

    def flush(self) -> int:
        """Publish what is queued now, in this thread; the number of items."""
        published = 0
        while items := self._take(self.most):
            self._publish(items)
            published += len(items)
        return published

    def _publish_forever(self) -> None:
        while True:
            first = self.items.get()
            time.sleep(self.linger)
            self._publish([first, *self._take(self.most - 1)])

    def _take(self, most: int) -> list[Any]:
        items: list[Any] = []
        while len(items) < most:
            try:
                items.append(self.items.get_nowait())
            except queue.Empty:
                break
        return items

    def _publish(self, items: list[Any]) -> None:
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                self.task.delay(items)
                return
            except Exception:
                if attempt + 1 == PUBLISH_ATTEMPTS:
                    # The items' own rows are stored; what is lost is their background job.
                    logger.exception("publishing %s for %d items failed: %r", self.task_name,
                                     len(items), items[:20])
                else:
                    time.sleep(0.5 * 2**attempt)
