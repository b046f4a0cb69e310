"""The results table, and docs/performance.md built around it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bench import history, realtime, seed_history, seed_realtime
from bench.stats import Row

HEADER = ("benchmark", "measure", "teamchat", "baseline", "ratio", "aim", "met")


@dataclass(frozen=True)
class RunInfo:
    quick: bool
    messages: int
    seconds: float
    load_average: tuple[float, float, float]
    background: tuple[float, float]
    machine: dict[str, str]


def number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cells(row: Row) -> tuple[str, ...]:
    ratios = row.ratios()
    return (
        row.benchmark,
        row.measure,
        " / ".join(number(v) for v in row.ours),
        f"{' / '.join(number(v) for v in row.baseline)} ({row.baseline_name})"
        if row.baseline is not None else "-",
        " / ".join(f"{r:.1f}x" for r in ratios) if ratios is not None else "-",
        row.aim or "-",
        {True: "yes", False: "**no**", None: "-"}[row.met],
    )


def table(rows: list[Row]) -> str:
    """A Markdown table, readable as plain text too."""
    lines = [HEADER, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]

    def render(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([render(HEADER), rule, *(render(cells) for cells in lines[1:])])


def _aims(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        if row.met is None:
            continue
        ours = " / ".join(number(v) for v in row.ours)
        versus = ""
        if row.baseline is not None:
            ratios = row.ratios() or ()
            versus = (f" against {' / '.join(number(v) for v in row.baseline)} for the "
                      f"{row.baseline_name} ({' / '.join(f'{r:.1f}x' for r in ratios)})")
        verdict = "**met**" if row.met else "**missed**"
        lines.append(f"- {row.benchmark}: aim {row.aim}. Measured {ours} ({row.measure})"
                     f"{versus}: {verdict}.")
    return lines


def _notes(rows: list[Row]) -> list[str]:
    return [f"- {row.benchmark}: {'; '.join(row.notes)}." for row in rows if row.notes]


def _method(info: RunInfo) -> str:
    plan = realtime.QUICK if info.quick else realtime.FULL
    return f"""\
**History** (in-process, no HTTP). The database `teamchat_bench` holds
{seed_history.PEOPLE} people, {seed_history.CHANNELS + seed_history.DIRECTS} conversations
({seed_history.CHANNELS} channels of {seed_history.CHANNEL_SIZES[0]} to
{seed_history.CHANNEL_SIZES[1]} members, {seed_history.DIRECTS} direct) and {info.messages:,}
messages spread over {seed_history.HISTORY_DAYS} days, a few conversations holding most of them
(weight 1/(rank + 10)). People, conversations and memberships were made by the services;
messages, their `message.created` events, mentions ({seed_history.MENTION_SHARE:.0%} of
messages) and reactions ({seed_history.REACTION_SHARE:.0%}) were loaded by COPY with the
values the services keep ({seed_history.REPLY_SHARE:.0%} are thread replies, with the thread
summaries on their roots). {seed_history.CAUGHT_UP_SHARE:.0%} of memberships have read
everything, the others are on average {seed_history.MEAN_UNREAD} channel messages behind.
The reader is the person in {seed_history.HOT_CHANNELS + seed_history.HOT_DIRECTS}
conversations. A page is `messaging.selectors.message_history` plus
`messaging.payloads.message_payload` for each message, cycling over that person's
{history.LARGE_CONVERSATIONS} largest conversations (newest page) or over random `before=`
anchors in the older half of the {history.DEEP_CONVERSATIONS} largest (deep page). The
list is `messaging.selectors.membership_list` evaluated fully. Each call is followed by its
baseline on the same case, so background load falls on both: one raw-cursor query for the
same 50 rows through the `(conversation_id, id)` index with the same visibility filter,
and, for the list, one query for the same memberships joined to their conversations,
without the counts. Timings are wall-clock `time.perf_counter` per call after warm-up,
with Python's garbage collector running as it does in a server; p50 and p99 are
nearest-rank percentiles. The write row times `messaging.services.message_create` plus
`message_payload` against the same rows stored by plain INSERTs in one transaction.

**Realtime.** One daphne process (`python -m daphne teamchat.asgi:application`, started
as in tests/servers.py with persistent database connections) on PostgreSQL and Redis,
with {seed_realtime.PEOPLE} people who each hold a fresh API token. All clients are
`websockets` asyncio connections in the benchmark's own process, each stamping a frame
with `time.perf_counter` when the library hands it over. Fan-out: {plan.fanout_repeats}
messages (after {realtime.FANOUT_WARMUP} unmeasured) sent one at a time,
{realtime.FANOUT_PAUSE:g} s apart, by one member of a channel whose every member
({", ".join(map(str, seed_realtime.FANOUT_SIZES))}) has a socket open; a latency runs from
just before the sender writes its `message.send` frame to a member's receipt of the
matching `message.created` frame (the message is stored and committed in between), and
the sender's own socket counts as a member. Sustained: {plan.sustained_teams} channels of
{seed_realtime.TEAM_SIZE}, all members connected, {realtime.SENDERS_PER_TEAM} senders in
each, every sender waiting for the ack of one message before sending the next and
never faster than 9.5 a second (the consumer drops frames beyond 10 a second per
socket), for {plan.sustained_seconds:g} s; a message counts as stored when its ack came
back, and as delivered when all {seed_realtime.TEAM_SIZE} members received it, within
the window. Jobs a send queues (notifications) go to an in-memory Celery broker and are
not run: in production a worker does that elsewhere. Memory: VmRSS of the server
process after a warm-up message, then with
{plan.idle_connections} authenticated sockets open and idle for
{realtime.SETTLE_SECONDS:g} s; the difference divided by the number of sockets.

**Baseline for realtime**: `bench/bare_server.py`, an asyncio `websockets` server in its
own process that relays every text frame to every connected socket, measured by the
same client code with frames padded to the size of teamchat's `message.created` frame.
It stores nothing and checks nothing, so a ratio says what teamchat's work per message
(authorisation, the database transaction, the channel layer through Redis, the
per-socket ordering) costs on top of moving the bytes.

**Caveats.** The machine has {info.machine["cpu"].rsplit(", ", 1)[-1]}: the server,
PostgreSQL, Redis and the client share them, so every realtime figure includes their
competition for those cores. It is a virtual machine: a round trip between two processes
costs milliseconds more when they were idle (see "round trips" below), so a message
sent after the fan-out benchmark's 0.15 s pause pays that at each hop between the
client, daphne, PostgreSQL and Redis, and the bare server's path has fewer hops. The
client's own time to read hundreds of frames is part of every fan-out latency, for the
bare server too. Other people's work on the machine is
recorded below (load average, and the share of the cores busy while the benchmark
waited)."""


def document(rows: list[Row], info: RunInfo) -> str:
    mode = "`make bench QUICK=1` (quick run)" if info.quick else "`make bench` (full run)"
    machine_lines = "\n".join(f"| {key} | {value} |" for key, value in info.machine.items())
    load_lines = "\n".join([
        f"| load average at the start (1, 5, 15 min) | "
        f"{', '.join(f'{v:.2f}' for v in info.load_average)} |",
        f"| other work on the machine | {info.background[0]:.0%} of all cores busy at the "
        f"start, {info.background[1]:.0%} at the end (while the benchmark waited 3 s) |"])
    return f"""\
# Performance

Measured by {mode} on {info.machine["date"]}, in {info.seconds / 60:.0f} minutes. This page
is written by `bench/run.py`; run the command again to refresh it. Ratios divide
teamchat's figure by the baseline's, measured in the same run.

{table(rows)}

## Aims

{chr(10).join(_aims(rows))}

## Details

{chr(10).join(_notes(rows))}

## Machine

| | |
| --- | --- |
{machine_lines}
{load_lines}

## Method

{_method(info)}

## Running it

`make bench` seeds 1,000,000 messages the first time (about two minutes here; the
database is kept and reused after that) and then measures for about eight minutes;
`make bench QUICK=1` seeds 100,000 (or reuses a larger seed) and runs shorter
measurements, in about three minutes. `.venv/bin/python -m bench.run --profile` records
py-spy profiles of daphne into var/bench/profiles/ (install py-spy first). All need
PostgreSQL at 127.0.0.1:5432 (user postgres) and Redis at 127.0.0.1:6379; they use the
database `teamchat_bench` and Redis keys starting with `tcbench`, and nothing else.
"""


def write(path: Path, rows: list[Row], info: RunInfo) -> None:
    path.write_text(document(rows, info))
