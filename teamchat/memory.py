"""Garbage-collector settings for the long-running processes (daphne, Celery workers).

After start-up a process holds hundreds of thousands of objects that live as long as it
does: modules, classes, URL patterns, templates. Python's oldest-generation collection
walks all of them every time it runs, and when that lands in the middle of a request it
adds 60-70 ms to it (the conversation list of someone in 500 conversations: p99 90 ms with
the default, 27 ms with them frozen; see docs/performance.md). Freezing them
once start-up is done leaves them out of every later collection; cycles made while serving
are still collected as before.

What a server makes while serving lives long too: each open socket holds its consumer,
protocol and buffers. With Python's default thresholds (a young collection every 700
objects kept, a middle one every 10 of those, a full one every 10 middle ones) a daphne
process holding 1,000 sockets ran six full collections in a load-test run, of up to 486 ms
each, and a middle one every second or so (up to 67 ms): the test's p99 delivery went
past 250 ms. A young collection every 10,000 objects kept leaves few middle collections
(about one a minute in the load test, 120-150 ms) and no full one in its window; the
young collections it runs still reclaim cycles in milliseconds.
"""

from __future__ import annotations

import gc

# Young collections run when this many more objects were made than freed (default 700).
YOUNG_THRESHOLD = 10_000


def settle_after_startup() -> int:
    """Load what the first request would load, collect once, and freeze what is left;
    the number of objects frozen."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  # imports every view module now, not on first use
    gc.collect()
    gc.freeze()
    _, middle, full = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, full)
    return gc.get_freeze_count()
