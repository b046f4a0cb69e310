"""Slack import (issue 29): a generated workspace export of N messages imported by the
path `manage.py import_slack` takes, beside a bare COPY of the same rows.

The export is written to var/bench/slack/ (deleted after) by `generate_export`: people,
public and private channels, direct and group conversations, day files whose messages
carry what real exports carry in the shares below (thread replies, mentions, links,
Slack markup, code, emoji, reactions, edits, joins, text in Chinese, Japanese or
Korean). The import runs in a child process on a database of its own
(`teamchat_bench_slack`, created and migrated before, dropped after), so the history
seed is untouched and the child's peak resident set size (ru_maxrss, from os.wait4) is
the import's: `integrations.slack_export.read_export` (which checks the whole export)
then `integrations.services.slack_import`, timed together. The baseline, in the same
kind of child on the same database, reads the same day files and COPYs one row per
message (conversation, author, seq, text, time) into a table without indexes or
triggers: what reading the export and PostgreSQL alone take.

    .venv/bin/python -m bench.slack_import --messages 20000
runs it alone and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench import environment
from bench.stats import Row

FULL_MESSAGES = 1_000_000
QUICK_MESSAGES = 20_000
# The aims: a million messages in under ten minutes, in under 500 MB.
AIM_RATE = FULL_MESSAGES / 600
AIM_MB = 500.0
DATABASE_NAME = f"{environment.DATABASE_NAME}_slack"
DSN = f"host=127.0.0.1 port=5432 user=postgres dbname={DATABASE_NAME}"
TARGET = environment.DATA_DIR / "slack"
OWNER_EMAIL = "owner@slack.bench.example"

PEOPLE = 300
CHANNELS = 60
PRIVATE_CHANNELS = 10
DIRECTS = 25
GROUP_DIRECTS = 5
# A day file holds this many messages on average (a busy channel more, a quiet one
# fewer); the number of days follows from it, at most HISTORY_DAYS.
MEAN_PER_DAY = 25
HISTORY_DAYS = 365
REPLY_SHARE = 0.10
BROADCAST_SHARE = 0.05  # of replies
MENTION_SHARE = 0.05
LINK_SHARE = 0.03
FORMAT_SHARE = 0.05
CODE_SHARE = 0.01
EMOJI_SHARE = 0.03
REACTION_SHARE = 0.05
EDIT_SHARE = 0.02
JOIN_SHARE = 0.005
CJK_SHARE = 0.10
RANDOM_SEED = 20261208
START = datetime(2024, 1, 1, tzinfo=UTC).timestamp()

WORDS = ("the", "deploy", "review", "branch", "lunch", "release", "build", "test", "flaky",
         "retry", "database", "index", "query", "customer", "ticket", "meeting", "notes", "draft",
         "design", "doc", "roadmap", "quarter", "budget", "plan", "invoice", "migration",
         "rollback", "staging", "prod", "incident", "alert", "pager", "fix", "bug", "feature",
         "flag", "cache", "latency", "dashboard", "metrics", "sprint", "demo", "feedback",
         "launch", "copy", "legal", "approval", "vendor", "contract", "hiring", "onboarding",
         "laptop", "access", "token", "rotate", "backup", "restore", "today", "tomorrow", "friday",
         "next", "week", "please", "thanks", "sure", "agreed", "done", "looks", "good", "ship",
         "it", "R&D", "a<b")
CJK_TEXTS = ("明天上海会议的项目计划", "東京の会議資料を確認お願いします", "서울에서 회의 자료를 확인",
             "Q3の売上レビュー", "数据库版本发布完成", "다음 주 배포 일정")
EMOJI_NAMES = ("smile", "+1", "tada", "rocket", "eyes", "white_check_mark", "pray", "fire")


@dataclass(frozen=True)
class Generated:
    path: Path
    messages: int
    day_files: int
    conversations: int
    seconds: float
    size_mb: float


@dataclass(frozen=True)
class Measured:
    messages: int
    seconds: float
    peak_mb: float
    detail: dict[str, Any]


def run(*, quick: bool, messages: int | None = None) -> list[Row]:
    count = messages or (QUICK_MESSAGES if quick else FULL_MESSAGES)
    try:
        print(f"  generating a Slack export of {count:,} messages", file=sys.stderr, flush=True)
        export = generate_export(TARGET / "export.zip", count)
        _recreate_database()
        _child("setup", export.path)
        ours = _child("ours", export.path)
        baseline = _child("baseline", export.path)
    finally:
        shutil.rmtree(TARGET, ignore_errors=True)
        _drop_database()
    if ours.messages != export.messages:
        raise RuntimeError(f"the import stored {ours.messages:,} messages of {export.messages:,}")
    ours_rate, base_rate = ours.messages / ours.seconds, baseline.messages / baseline.seconds
    scope = (f"{export.messages:,} messages in {export.day_files:,} day files of "
             f"{export.conversations} conversations, a {export.size_mb:.0f} MB zip")
    projected = FULL_MESSAGES / ours_rate / 60
    return [
        Row(benchmark="Slack import: messages per second", measure="messages/s",
            ours=(ours_rate,), baseline=(base_rate,), baseline_name="read the day files, COPY the rows",
            aim=f">= {AIM_RATE:,.0f}/s (1M in 10 min)", met=ours_rate >= AIM_RATE,
            notes=[f"{scope}; imported in {ours.seconds:.1f} s (checking the export "
                   f"{ours.detail['check_seconds']:.1f} s, importing "
                   f"{ours.detail['import_seconds']:.1f} s; {projected:.1f} min for 1,000,000 at "
                   f"this rate); the baseline copied {baseline.messages:,} rows in "
                   f"{baseline.seconds:.1f} s"]),
        Row(benchmark="Slack import: peak memory of the importing process", measure="peak RSS MB",
            ours=(ours.peak_mb,), baseline=(baseline.peak_mb,),
            baseline_name="read the day files, COPY the rows", aim=f"< {AIM_MB:g} MB",
            met=ours.peak_mb < AIM_MB,
            notes=[f"ru_maxrss of the child process, Django and the app loaded included; {scope}"]),
    ]


# The export ------------------------------------------------------------------------------

def generate_export(path: Path, messages: int) -> Generated:
    """Write a Slack export of exactly `messages` messages (joins included) to `path`."""
    started = time.perf_counter()
    rng = random.Random(RANDOM_SEED)
    path.parent.mkdir(parents=True, exist_ok=True)
    users = [f"U{index:05d}" for index in range(PEOPLE)]
    conversations = _conversations(users, rng)
    weights = [1 / (rank + 5) for rank in range(len(conversations))]
    per_conversation = _split(messages, weights)
    days = max(3, min(HISTORY_DAYS, round(messages / len(conversations) / MEAN_PER_DAY)))
    day_files = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("users.json", json.dumps([_user(slack_id, index)
                                                   for index, slack_id in enumerate(users)]))
        for list_name in ("channels.json", "groups.json", "dms.json", "mpims.json"):
            archive.writestr(list_name, json.dumps(
                [item for kind, item in conversations if kind == list_name]))
        for (_kind, item), count in zip(conversations, per_conversation, strict=True):
            folder = item.get("name") or item["id"]
            for day, day_messages in _history(item, count, days, rng):
                archive.writestr(f"{folder}/{day}.json", json.dumps(day_messages))
                day_files += 1
    return Generated(path=path, messages=messages, day_files=day_files,
                     conversations=len(conversations), seconds=time.perf_counter() - started,
                     size_mb=path.stat().st_size / 1e6)


def _user(slack_id: str, index: int) -> dict[str, Any]:
    name = f"person{index:03d}"
    user: dict[str, Any] = {"id": slack_id, "name": name, "tz": "Europe/Paris",
                            "profile": {"real_name": f"Person {index}", "display_name": name,
                                        "email": f"{name}@slack.bench.example"}}
    if index % 50 == 49:
        user["deleted"] = True
    if index % 40 == 39:
        user["is_restricted"] = True
    return user


def _conversations(users: list[str], rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    result: list[tuple[str, dict[str, Any]]] = []
    for index in range(CHANNELS + PRIVATE_CHANNELS):
        members = rng.sample(users, rng.randint(5, 120)) if index else list(users)
        private = index >= CHANNELS
        result.append(("groups.json" if private else "channels.json", {
            "id": f"{'G' if private else 'C'}{index:05d}", "name": f"channel-{index:03d}",
            "created": START, "creator": members[0], "members": members,
            "is_general": index == 0, "topic": {"value": f"topic {index}"},
            "purpose": {"value": f"purpose {index}"}}))
    for index in range(DIRECTS):
        result.append(("dms.json", {"id": f"D{index:05d}", "created": START,
                                    "members": rng.sample(users, 2)}))
    for index in range(GROUP_DIRECTS):
        members = rng.sample(users, 4)
        result.append(("mpims.json", {"id": f"G9{index:04d}", "name": f"mpdm-group-{index}",
                                      "created": START, "creator": members[0], "members": members}))
    rng.shuffle(result)
    return result


def _split(total: int, weights: list[float]) -> list[int]:
    counts = [int(total * w / sum(weights)) for w in weights]
    counts[0] += total - sum(counts)
    return counts


def _history(item: dict[str, Any], count: int, days: int,
             rng: random.Random) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The conversation's day files, oldest first: `count` messages over `days` days."""
    members = item["members"]
    per_day = _split(count, [1.0] * days)
    roots: list[str] = []
    for day, day_count in enumerate(per_day):
        if not day_count:
            continue
        base = START + day * 86400
        stamps = sorted(rng.sample(range(86_400_000), day_count))
        batch = []
        for stamp in stamps:
            ts = f"{base + stamp / 1000:.6f}"
            batch.append(_message(ts, rng.choice(members), members, roots, rng))
        yield datetime.fromtimestamp(base, tz=UTC).strftime("%Y-%m-%d"), batch


def _message(ts: str, author: str, members: list[str], roots: list[str],
             rng: random.Random) -> dict[str, Any]:
    if rng.random() < JOIN_SHARE:
        return {"type": "message", "subtype": "channel_join", "user": author, "ts": ts,
                "text": f"<@{author}> has joined the channel"}
    if rng.random() < CJK_SHARE:
        words = [rng.choice(CJK_TEXTS)]
    else:
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 25))]
    if rng.random() < MENTION_SHARE:
        words.insert(rng.randrange(len(words) + 1), f"<@{rng.choice(members)}>")
    if rng.random() < LINK_SHARE:
        words.append(f"<https://example.com/{rng.randrange(1000)}|the doc>")
    if rng.random() < FORMAT_SHARE:
        index = rng.randrange(len(words))
        words[index] = rng.choice(("*{}*", "_{}_", "~{}~", "`{}`")).format(words[index])
    if rng.random() < EMOJI_SHARE:
        words.append(f":{rng.choice(EMOJI_NAMES)}:")
    text = " ".join(words).replace("&", "&amp;").replace("<b", "&lt;b")
    if rng.random() < CODE_SHARE:
        text += "\n```SELECT * FROM t WHERE a &lt; 3```"
    message: dict[str, Any] = {"type": "message", "user": author, "ts": ts, "text": text}
    if roots and rng.random() < REPLY_SHARE:
        message["thread_ts"] = rng.choice(roots[-20:])
        if rng.random() < BROADCAST_SHARE:
            message["subtype"] = "thread_broadcast"
    else:
        roots.append(ts)
    if rng.random() < REACTION_SHARE:
        message["reactions"] = [{"name": rng.choice(EMOJI_NAMES), "users": rng.sample(members, 1),
                                 "count": 1}]
    if rng.random() < EDIT_SHARE:
        message["edited"] = {"user": author, "ts": f"{float(ts) + 60:.6f}"}
    return message


# The database and the child processes -----------------------------------------------------

def _recreate_database() -> None:
    name = sql.Identifier(DATABASE_NAME)
    with psycopg.connect(environment.ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def _drop_database() -> None:
    with psycopg.connect(environment.ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(DATABASE_NAME)))


def _child(mode: str, export: Path) -> Measured:
    command = [sys.executable, "-m", "bench.slack_import", "--child", mode, "--export", str(export)]
    env = {**os.environ, "MEDIA_ROOT": str(TARGET / "media")}
    print(f"  Slack import ({mode}) in a child process", file=sys.stderr, flush=True)
    process = subprocess.Popen(command, cwd=environment.ROOT, env=env, stdout=subprocess.PIPE)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"Slack import child ({mode}) failed with exit code "
                           f"{os.waitstatus_to_exitcode(status)}")
    result = json.loads(output)
    # ru_maxrss is in kilobytes on Linux.
    return Measured(messages=result.get("messages", 0), seconds=result.get("seconds", 0.0),
                    peak_mb=usage.ru_maxrss / 1024, detail=result)


def _setup() -> dict[str, Any]:
    from django.core.management import call_command

    from accounts.models import Role
    from accounts.services import user_create

    call_command("migrate", verbosity=0, interactive=False)
    user_create(email=OWNER_EMAIL, display_name="Slack bench owner", password=None, role=Role.OWNER)
    return {}


def _import_ours(export: Path) -> dict[str, Any]:
    from accounts.models import User
    from integrations import services
    from integrations.slack_export import read_export
    from messaging.models import Message

    owner = User.objects.get(email=OWNER_EMAIL)
    started = time.perf_counter()
    checked = read_export(export)
    checked_at = time.perf_counter()
    report = services.slack_import(actor=owner, export=checked)
    finished = time.perf_counter()
    stored = Message.objects.count() + report.joins_and_leaves
    return {"messages": stored, "seconds": finished - started,
            "check_seconds": checked_at - started, "import_seconds": finished - checked_at,
            "warnings": len(report.warnings)}


def _copy_baseline(export: Path) -> dict[str, Any]:
    rows = 0
    started = time.perf_counter()
    with psycopg.connect(DSN) as conn, zipfile.ZipFile(export) as archive:
        conn.execute("CREATE TABLE bench_slack_copy (conversation integer, author text, seq integer, "
                     "text text, created_at timestamptz)")
        with conn.cursor() as cursor, cursor.copy(
                "COPY bench_slack_copy (conversation, author, seq, text, created_at) FROM STDIN") as copy:
            folders: dict[str, int] = {}
            for name in archive.namelist():
                folder, _, day = name.partition("/")
                if not day:
                    continue
                conversation = folders.setdefault(folder, len(folders) + 1)
                for message in json.loads(archive.read(name)):
                    rows += 1
                    copy.write_row((conversation, message.get("user"), rows, message.get("text"),
                                    datetime.fromtimestamp(float(message["ts"]), tz=UTC)))
    return {"messages": rows, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", choices=["setup", "ours", "baseline"], default=None)
    parser.add_argument("--export", type=Path, default=None)
    parser.add_argument("--messages", type=int, default=QUICK_MESSAGES,
                        help="without --child: run the benchmark alone on this many messages")
    args = parser.parse_args(argv)
    if args.child is None:
        environment.configure()
        from bench import report

        rows = run(quick=True, messages=args.messages)
        print(report.table(rows))
        print("\n".join(report.details(rows)))
        return 0
    if args.child == "baseline":
        print(json.dumps(_copy_baseline(args.export)))
        return 0
    environment.configure(database_name=DATABASE_NAME)
    result = _setup() if args.child == "setup" else _import_ours(args.export)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
