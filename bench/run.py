"""`make bench`: seed (once), run every benchmark, print one table and write
docs/performance.md.

    .venv/bin/python -m bench.run [--quick] [--only search,export,...]

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
BENCHMARKS = ("history", "catch_up", "writes", "realtime", "search", "export", "pageload", "load",
              "slack_import")
# These bring their own data (a database of their own) and need no seed.
SEEDLESS = {"slack_import"}


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through the `finally` blocks that stop our servers.
    raise SystemExit(128 + signum)


def _prepare(quick: bool, only: set[str]) -> int:
    """Set up Django on the bench database, seeding it when needed (when a benchmark
    chosen reads the seed); the message count."""
    wanted = QUICK_MESSAGES if quick else FULL_MESSAGES
    have = database.seeded_messages()
    if only <= SEEDLESS:
        # Nothing here reads the seed: it is neither made nor checked.
        database.ensure_exists()
        environment.configure()
        return have or 0
    # A quick run is content with a larger seed; a full run needs the full one.
    reseed = have is None or have < wanted
    if reseed:
        print(f"seeding {wanted:,} messages into {environment.DATABASE_NAME} "
              f"(kept for later runs)", file=sys.stderr, flush=True)
        database.recreate()
    environment.configure()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from bench import search

    if reseed:
        from bench import seed_history

        seed_history.seed(wanted)
    # The search trigger fills search_vector on INSERT and COPY alike; this catches a
    # seed loaded without it (it scans the table once, in under a second, when nothing
    # is missing).
    filled = search.ensure_search_vectors()
    if filled:
        print(f"  filled search_vector of {filled:,} messages", file=sys.stderr, flush=True)
    return wanted if reseed else have


def _measure(quick: bool, only: set[str]) -> list[Row]:
    from bench import (
        catch_up,
        database,
        export,
        history,
        load,
        pageload,
        realtime,
        search,
        seed_realtime,
        slack_import,
        writes,
    )

    # In this order; the last three run on the realtime seed (people with API tokens).
    on_history_seed = (("history", "history benchmarks", history),
                       ("catch_up", "catch-up benchmarks", catch_up), ("search", "search benchmarks", search),
                       ("export", "export benchmark", export), ("pageload", "page load benchmark", pageload))
    on_realtime_seed = (("writes", "write benchmark", writes), ("realtime", "realtime benchmarks", realtime),
                        ("load", "load test", load))
    environment.clear_redis()
    rows: list[Row] = []
    if only <= SEEDLESS:
        print("Slack import benchmark", file=sys.stderr, flush=True)
        return slack_import.run(quick=quick)
    removed = seed_realtime.clear_messages()
    if removed:
        print(f"removed {removed:,} messages earlier runs posted in the realtime channels",
              file=sys.stderr, flush=True)
    try:
        for name, title, module in on_history_seed:
            if name in only:
                print(title, file=sys.stderr, flush=True)
                database.checkpoint()
                rows += module.run(quick=quick)
        if only & {name for name, _, _ in on_realtime_seed}:
            seeded = seed_realtime.seed()
            for name, title, module in on_realtime_seed:
                if name in only:
                    print(title, file=sys.stderr, flush=True)
                    database.checkpoint()
                    rows += module.run(quick=quick, seeded=seeded)
        if "slack_import" in only:
            print("Slack import benchmark", file=sys.stderr, flush=True)
            database.checkpoint()
            rows += slack_import.run(quick=quick)
    finally:
        environment.clear_redis()
    return rows


def _benchmarks(value: str) -> set[str]:
    chosen = {name.strip() for name in value.split(",") if name.strip()}
    unknown = chosen - set(BENCHMARKS)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(BENCHMARKS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="100,000 messages (or a larger existing seed) and shorter runs")
    parser.add_argument("--profile", action="store_true",
                        help="record py-spy profiles of daphne to var/bench/profiles/ "
                             "(sampling perturbs the timings, so docs/performance.md is "
                             "left as it is)")
    parser.add_argument("--only", type=_benchmarks, default=set(BENCHMARKS), metavar="NAMES",
                        help=f"a comma-separated subset of {','.join(BENCHMARKS)}; the table "
                             "is printed and docs/performance.md left as it is")
    args = parser.parse_args(argv)
    partial = args.only != set(BENCHMARKS)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    started = time.monotonic()
    load_average = os.getloadavg()
    messages = _prepare(args.quick, args.only)

    from bench import machine, profiling, report

    if args.profile:
        profiling.enable()
    background_before = machine.background_load()
    rows = _measure(args.quick, args.only)
    info = report.RunInfo(quick=args.quick, messages=messages,
                          seconds=time.monotonic() - started, load_average=load_average,
                          background=(background_before, machine.background_load()),
                          machine=machine.describe())
    print(report.table(rows))
    if partial or args.profile:
        # The page is not written: print its details instead.
        print("\n".join(report.details(rows)))
    if not args.profile and not partial:
        report.write(DOCUMENT, rows, info)
        print(f"\nwritten to {DOCUMENT.relative_to(environment.ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
