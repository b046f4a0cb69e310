"""Timing calls in-process: each call beside its baseline, so that whatever else the
machine does at that moment falls on both alike."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.stats import Spread

Call = Callable[[], Any]


def timed(call: Call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def paired(cases: Sequence[tuple[Call, Call]], count: int, warmup: int) -> tuple[Spread, Spread]:
    """Time ours and the baseline alternately, cycling through the cases; the first
    `warmup` rounds are not counted."""
    ours, base = paired_seconds(cases, count, warmup)
    spread = Spread.of_seconds(ours)
    print(f"  {count} calls: p50 {spread.p50:.2f} ms, p99 {spread.p99:.2f} ms", file=sys.stderr,
          flush=True)
    return spread, Spread.of_seconds(base)


def paired_seconds(cases: Sequence[tuple[Call, Call]], count: int,
                   warmup: int) -> tuple[list[float], list[float]]:
    """paired()'s timings themselves, in seconds: ours and the baseline's."""
    ours: list[float] = []
    base: list[float] = []
    # Start from the same heap whatever ran before (seeding leaves garbage behind), and
    # freeze what is there as daphne and the workers do once started (teamchat.memory);
    # the collector then runs as it would in a server, and its pauses count.
    gc.collect()
    gc.freeze()
    try:
        for index in range(warmup + count):
            call, baseline = cases[index % len(cases)]
            took_ours, took_base = timed(call), timed(baseline)
            if index >= warmup:
                ours.append(took_ours)
                base.append(took_base)
    finally:
        gc.unfreeze()
    return ours, base


def query_count(call: Call) -> int:
    with CaptureQueriesContext(connection) as queries:
        call()
    return len(queries)
