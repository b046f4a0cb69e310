"""Celery jobs for many items at once, published by a thread of their own.

Every send queues a background job (its notifications, webhooks and link previews).
Published from the send's own thread, that job cost about 0.45 ms of the server's CPU
per message (docs/performance.md), before the sender's ack. A `Batched` task is published
by a thread of the process instead: it waits `linger` seconds after the first item for
others to join it, then publishes them all as one job. Each job runs at most `linger`
later; under load one publish carries many items.

An item is either waiting in the batch or being published under a lock, never neither:
`flush()` (at exit, and when a Celery worker's child process ends) publishes what waits,
after any publish in progress. A forked child starts with an empty batch (its parent
publishes what it had).

In Celery's eager mode (the tests) the job runs at once, in the caller's thread.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import threading
import time
import weakref
from typing import Any

logger = logging.getLogger(__name__)
PUBLISH_ATTEMPTS = 4  # over 3.5 s: the broker restarting, say
_everyone: weakref.WeakSet[Batched] = weakref.WeakSet()


class Batched:
    """`add(item)` queues an item; the task (by name) is called as
    `task.delay([item, ...])`."""

    def __init__(self, task_name: str, *, linger: float = 0.02, most: int = 500) -> None:
        self.task_name = task_name
        self.linger = linger
        self.most = most
        self._reset()
        _everyone.add(self)

    def _reset(self) -> None:
        self.waiting: list[Any] = []
        self.arrived = threading.Condition()  # guards `waiting`
        self.publishing = threading.Lock()  # held while items are taken and published
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
        with self.arrived:
            self.waiting.append(item)
            if self.publisher_pid != os.getpid():  # the first item of this process
                self.publisher_pid = os.getpid()
                threading.Thread(target=self._publish_forever, daemon=True,
                                 name=f"batched {self.task_name}").start()
            if len(self.waiting) == 1:  # else the publisher is awake already
                self.arrived.notify()

    def flush(self) -> int:
        """Publish what waits now, in this thread; the number of items."""
        published = 0
        with self.publishing:
            while True:
                with self.arrived:
                    items = self.waiting[:self.most]
                    del self.waiting[:self.most]
                if not items:
                    return published
                self._publish(items)
                published += len(items)

    def _publish_forever(self) -> None:
        while True:
            with self.arrived:
                while not self.waiting:
                    self.arrived.wait()
            time.sleep(self.linger)
            self.flush()

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


def flush_all(**_: Any) -> int:
    """Publish what every batch of this process holds (at exit; Celery's
    worker_process_shutdown, since a worker's child process ends without atexit)."""
    return sum(batch.flush() for batch in list(_everyone))


def _forget_in_child() -> None:
    for batch in list(_everyone):
        batch._reset()


atexit.register(flush_all)
os.register_at_fork(after_in_child=_forget_in_child)
