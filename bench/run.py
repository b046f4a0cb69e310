"""`make bench`: seed (once), run every benchmark, print one table and write
docs/performance.md.

    .venv/bin/python -m bench.run [--quick]

The environment is set before Django is imported (bench.environment), so the run uses
the database `teamchat_bench` and Redis keys under `tcbench`, never the app's or the
tests'. Every process started here is stopped before it returns, also on error or
SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from types import FrameType

from bench import database, environment
from bench.stats import Row

FULL_MESSAGES = 1_000_000
QUICK_MESSAGES = 100_000
DOCUMENT = environment.ROOT / "docs" / "performance.md"


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through the `finally` blocks that stop our servers.
    raise SystemExit(128 + signum)


def _prepare(quick: bool) -> int:
    """Set up Django on the bench database, seeding it when needed; the message count."""
    wanted = QUICK_MESSAGES if quick else FULL_MESSAGES
    have = database.seeded_messages()
    # A quick run is content with a larger seed; a full run needs the full one.
    reseed = have is None or have < wanted
    if reseed:
        print(f"seeding {wanted:,} messages into {environment.DATABASE_NAME} "
              f"(kept for later runs)", file=sys.stderr, flush=True)
        database.recreate()
    environment.configure()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    if reseed:
        from bench import seed_history

        seed_history.seed(wanted)
        return wanted
    return have


def _measure(quick: bool) -> list[Row]:
    from bench import history, realtime, seed_realtime, writes

    environment.clear_redis()
    try:
        print("history benchmarks", file=sys.stderr, flush=True)
        rows = history.run(quick=quick)
        seeded = seed_realtime.seed()
        print("write benchmark", file=sys.stderr, flush=True)
        rows += writes.run(quick=quick, seeded=seeded)
        print("realtime benchmarks", file=sys.stderr, flush=True)
        rows += realtime.run(quick=quick, seeded=seeded)
    finally:
        environment.clear_redis()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="100,000 messages (or a larger existing seed) and shorter runs")
    parser.add_argument("--profile", action="store_true",
                        help="record py-spy profiles of daphne to var/bench/profiles/ "
                             "(sampling perturbs the timings, so docs/performance.md is "
                             "left as it is)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    started = time.monotonic()
    load_average = os.getloadavg()
    messages = _prepare(args.quick)

    from bench import machine, profiling, report

    if args.profile:
        profiling.enable()
    background_before = machine.background_load()
    rows = _measure(args.quick)
    info = report.RunInfo(quick=args.quick, messages=messages,
                          seconds=time.monotonic() - started, load_average=load_average,
                          background=(background_before, machine.background_load()),
                          machine=machine.describe())
    print(report.table(rows))
    if not args.profile:
        report.write(DOCUMENT, rows, info)
        print(f"\nwritten to {DOCUMENT.relative_to(environment.ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
