"""The results table, and docs/performance.md built around it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bench import (
    export,
    history,
    load,
    pageload,
    realtime,
    search,
    seed_history,
    seed_realtime,
    slack_import,
)
from bench.stats import Row

# The hand-written account of what the profiles showed, placed after the details.
ANALYSIS = Path(__file__).resolve().parent / "analysis.md"

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


def _ratio(value: float) -> str:
    return f"{value:.1f}x" if math.isnan(value) or value >= 0.1 else f"{value:.3f}x"


def _cells(row: Row) -> tuple[str, ...]:
    ratios = row.ratios()
    return (
        row.benchmark,
        row.measure,
        " / ".join(number(v) for v in row.ours),
        f"{' / '.join(number(v) for v in row.baseline)} ({row.baseline_name})"
        if row.baseline is not None else "-",
        " / ".join(_ratio(r) for r in ratios) if ratios is not None else "-",
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
                      f"{row.baseline_name} ({' / '.join(_ratio(r) for r in ratios)})")
        verdict = "**met**" if row.met else "**missed**"
        lines.append(f"- {row.benchmark}: aim {row.aim}. Measured {ours} ({row.measure})"
                     f"{versus}: {verdict}.")
    return lines


def details(rows: list[Row]) -> list[str]:
    return [f"- {row.benchmark}: {'; '.join(row.notes)}." for row in rows if row.notes]


def _method(info: RunInfo) -> str:
    from messaging.search import RANKED_MATCHES

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
Before each benchmark PostgreSQL is made to `CHECKPOINT`, so that none shares the disk
with the checkpoint of what the seed or the benchmarks before it wrote.

**Realtime.** One daphne process (`python -m daphne teamchat.asgi:application`, started
as in tests/servers.py with persistent database connections) on PostgreSQL and Redis,
with {seed_realtime.PEOPLE} people who each hold a fresh API token; what earlier runs posted
in their channels is removed before a run (`seed_realtime.clear_messages`), so every run
searches the seeded history as seeded. All clients are
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

**Search** (in-process, no HTTP): `messaging.search.message_search`, the function GET
/api/v1/search/messages/ calls, for page 1 of {search.PAGE} results, highlighted snippets
included, on the same seed. Queries are chosen by how often their words occur: the seed's
message bodies come from 400 texts of words drawn with equal weight from
{len(seed_history.WORDS)} words, so each of those words is in roughly a quarter of all
messages ("common words"); names occur only in the {seed_history.MENTION_SHARE:.0%} of
messages that mention someone, and one word in none ("rare words"); two of those words
side by side ("exact phrases"); a common word with `in:#channel` (the reader's largest
channel), `from:@person`, `has:link` (no seeded message has a link, so it matches none)
or `after:`/`before:` a 30-day window ("filtered"). The details list each query with the
number of messages its words match. Each is run as the person in 500 conversations and as
the person in the fewest; every public channel is searchable by both. Each call is
followed by its baseline, `{search.BASELINE_SQL}` with the same words and
{search.PAGE + 1} rows, through a raw cursor, with
no permission filter, no ranking, no filters and no snippets. It stops at the first 21
rows the GIN index yields, so it is a floor rather than an alternative: the ratio shows
what ranking by relevance (of every match of a phrase, of the newest
{RANKED_MATCHES:,} matches of words), the permission filter and the snippets cost.
p50, p95 and p99 are nearest-rank percentiles over all calls of a row's queries. Before
measuring, the run checks that every message has a `search_vector` (the trigger fills it
on INSERT and on COPY; rows without one would be filled in batches of 20,000).

**Export**: `compliance.services.export_start(actor=None, format="jsonl",
in_background=False)` then `export_run()`, the code `manage.py compliance_export` and the
console's Celery job run, without files, in a child process
(`python -m bench.export --child ours`); {"the newest " + format(export.QUICK_SLICE, ",")
+ " messages (a `start` date)" if info.quick else "every message"}. The zip is saved to
storage under var/bench/export/ (deleted after) by way of a temporary file that
export_run removes. Messages per second is the count over the wall-clock time of
export_run; peak memory is the child's `ru_maxrss` read with `os.wait4`, so it counts
Python, Django and the app as loaded. Baseline: a child process streaming the same rows
(id, conversation, author, thread root, seq, text, HTML, times) from PostgreSQL, each
turned into JSON by `row_to_json` inside a COPY to the client, into a deflated zip
entry: the database and zlib alone, without the export's per-message record (revisions,
reactions, mentions, files, author and conversation), its progress updates and its
checksums.

**Web client page load**: one daphne process as for realtime, on the bench database;
headless Chromium (/usr/bin/chromium through Playwright's sync API, the flags of
tests/e2e/conftest.py), signed in by a session cookie made as tests/realtime.py makes it,
as the person in 500 conversations; {pageload.LOADS_QUICK if info.quick else pageload.LOADS_FULL}
loads of each kind after one unmeasured. A script added before the page's own (a
MutationObserver) records `performance.now()`, which counts from navigation start, when
`#app` turns `data-state="ready"` with messages in `#message-list`, i.e. the sidebar drawn,
the first conversation opened and its newest page rendered. Cold: a new browser context
each load (no cache, no storage). Warm: one context loaded again and again (cached
scripts, the last conversation remembered). Baseline: the sign-in page of the same
daphne in a new context, to its `load` event: the fixed cost of a navigation here
(Chromium, HTTP, a Django template, a stylesheet), without the client's API calls,
WebSocket and rendering.

**Load test** (`bench/load.py`, also `python -m bench.load --people N --seconds S`):
{load.QUICK_PEOPLE if info.quick else load.FULL_PEOPLE} people of the realtime seed, each
with a WebSocket to one of two daphne processes (person i to process i % 2) sharing
PostgreSQL and Redis, for {load.QUICK_SECONDS if info.quick else load.FULL_SECONDS:g} s. A
tenth of them send to their 10-member team channel about every {load.SEND_EVERY:g} s
(exponential pauses), each message after a `typing` frame {load.TYPING_LEAD:g} s before;
everyone sends `presence.set` about once a minute; {load.READ_SHARE:.0%} of received
messages are marked read by a POST to `conversations/{{id}}/read/`. Latency runs from just
before `message.send` is written to each member's receipt of its `message.created`; after
sending stops the run waits {load.DRAIN:g} s, then counts every acked message's frames at
each of its members by message id: one each is required. No baseline: the row answers
the aim of issue 13 directly.

**Slack import** (issue 29): `bench/slack_import.py` writes a Slack workspace export of
{format(slack_import.QUICK_MESSAGES if info.quick else slack_import.FULL_MESSAGES, ",")}
messages ({slack_import.PEOPLE} people; {slack_import.CHANNELS} public and
{slack_import.PRIVATE_CHANNELS} private channels, {slack_import.DIRECTS} direct and
{slack_import.GROUP_DIRECTS} group conversations, a few holding most messages; about
{slack_import.MEAN_PER_DAY} messages per day file; {slack_import.REPLY_SHARE:.0%} thread
replies, {slack_import.MENTION_SHARE:.0%} with a mention, {slack_import.REACTION_SHARE:.0%}
with a reaction, {slack_import.CJK_SHARE:.0%} in Chinese, Japanese or Korean, links, Slack
markup, code, emoji, edits and joins besides). A child process on a database of its own
(created and migrated first, dropped after) runs what `manage.py import_slack` runs:
`read_export`, which checks the whole zip, then `integrations.services.slack_import`;
messages per second is the count over the wall-clock time of both, peak memory the child's
`ru_maxrss`. Baseline: a child reading the same day files and COPYing one row per message
(conversation, author, seq, text, time) into a table without indexes or triggers, the
floor of reading the export and writing its rows.

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

{chr(10).join(details(rows))}

{ANALYSIS.read_text().strip()}

## Machine

| | |
| --- | --- |
{machine_lines}
{load_lines}

## Method

{_method(info)}

## Running it

`make bench` seeds 1,000,000 messages the first time (about two minutes here; the
database is kept and reused after that) and then measures for about 12 minutes on this
machine (the export of all 1,000,000 messages takes about four and a half of them);
`make bench QUICK=1` seeds 100,000 (or reuses a larger seed) and runs shorter
measurements, in about six minutes. The Slack import imports 1,000,000 generated messages in
a full run and {slack_import.QUICK_MESSAGES:,} in a quick one, in a database of its own.
`.venv/bin/python -m bench.run --only search,export` runs a subset (any of
{", ".join(f"`{name}`" for name in ("history", "writes", "realtime", "search", "export", "pageload",
                                   "load", "slack_import"))})
and prints its table without rewriting this page. `.venv/bin/python -m bench.run --profile` records
py-spy profiles of daphne into var/bench/profiles/ (install py-spy first). All need
PostgreSQL at 127.0.0.1:5432 (user postgres) and Redis at 127.0.0.1:6379; they use the
database `teamchat_bench`, Redis keys and pub/sub channels starting with `tcbench:` and
var/bench/, and nothing else. `BENCH_INSTANCE=b` gives a run its own (`teamchat_bench_b`,
`tcbench_b`, var/bench_b/), so two runs on one machine (two checkouts compared side by
side) cannot meet; `BENCH_REDIS_DB` picks the Redis database (0 by default).
"""


def write(path: Path, rows: list[Row], info: RunInfo) -> None:
    path.write_text(document(rows, info))
