"""The history benchmark's data: 500 people, 1,000 conversations, N messages.

People, conversations and memberships are made by the real services (so roles, the
`conversation.created` event at seq 1 and the audit trail are what the app writes).
Messages then go in by COPY, in one pass over a timeline, holding what the services
would have kept: `seq` one more than the conversation's previous event, one
`message.created` ConversationEvent per message, thread summaries on roots, Mention rows,
a few reactions, the author's own read position moved past their message, and finally
each conversation's `last_seq` and `last_message_at`.

One person (HOT_EMAIL) belongs to 500 conversations; the list benchmark reads theirs.
"""

from __future__ import annotations

import random
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.test import override_settings
from psycopg import sql
from psycopg.types.json import Jsonb

from accounts import services as account_services
from accounts.models import User
from bench import database
from messaging import markdown
from messaging import services as messaging_services
from messaging.models import Conversation, ConversationKind, Membership

PEOPLE = 500
CHANNELS = 900
DIRECTS = 100
HOT_EMAIL = "person000@history.bench.example"
HOT_CHANNELS = 450
HOT_DIRECTS = 50  # so the hot person is in HOT_CHANNELS + HOT_DIRECTS = 500 conversations
CHANNEL_SIZES = (3, 60)
# Share of messages that are thread replies, of those also sent to the channel, that
# mention someone, and that carry reactions.
REPLY_SHARE = 0.05
ALSO_IN_CHANNEL_SHARE = 0.1
MENTION_SHARE = 0.02
REACTION_SHARE = 0.03
# Read positions: this share of memberships has read everything; the others are behind
# by an exponentially distributed number of channel messages with this mean.
CAUGHT_UP_SHARE = 0.6
MEAN_UNREAD = 40
HISTORY_DAYS = 730
RANDOM_SEED = 20251128

FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Elif", "Femi", "Gia", "Hugo", "Ines", "Jon", "Kai",
               "Lena", "Milo", "Nora", "Omar", "Pia", "Quinn", "Rui", "Sara", "Tom", "Uma", "Vik",
               "Wren", "Xia", "Yusuf")
LAST_NAMES = ("Lopez", "Novak", "Okafor", "Berg", "Silva", "Tanaka", "Kowalski", "Haddad",
              "Moreau", "Jensen", "Rossi", "Nguyen", "Fischer", "Costa", "Ivanova", "Kim", "Walsh",
              "Duarte", "Sato", "Mwangi")
WORDS = ("the", "deploy", "review", "branch", "lunch", "release", "build", "test", "flaky",
         "retry", "database", "index", "query", "customer", "ticket", "meeting", "notes", "draft",
         "design", "doc", "roadmap", "quarter", "budget", "plan", "invoice", "migration",
         "rollback", "staging", "prod", "incident", "alert", "pager", "fix", "bug", "feature",
         "flag", "cache", "latency", "dashboard", "metrics", "sprint", "demo", "feedback",
         "launch", "copy", "legal", "approval", "vendor", "contract", "hiring", "onboarding",
         "laptop", "access", "token", "rotate", "backup", "restore", "today", "tomorrow", "friday",
         "next", "week", "please", "thanks", "sure", "agreed", "done", "looks", "good", "ship",
         "it")
# A fifth of the message bodies are Chinese, Japanese or Korean (issue 31), some with Latin
# words among them (Q3の売上, PRのレビュー): CJK_SHARE of the pool, drawn from these.
CJK_SHARE = 0.2
CJK_WORDS = {
    "zh": ("上海", "北京", "会议", "项目", "部署", "发布", "测试", "数据库", "客户", "预算", "计划",
           "明天", "今天", "问题", "修复", "版本", "服务器", "用户", "报告", "完成", "东京", "v2版本"),
    "ja": ("東京", "大阪", "会議", "資料", "確認", "お願いします", "ありがとう", "売上", "予算",
           "来週", "今日", "リリース", "テスト", "データベース", "サーバー", "レビュー", "ひらがな",
           "カタカナ", "打ち合わせ", "報告", "東京都", "Q3の売上", "PRのレビュー"),
    "ko": ("서울", "부산", "회의", "자료", "확인", "부탁드립니다", "감사합니다", "매출", "예산",
           "다음", "주", "오늘", "배포", "테스트", "데이터베이스", "서버", "리뷰", "한국어", "보고서",
           "일정", "완료"),
}
CJK_JOINERS = {"zh": ("", "", "的", "在"), "ja": ("の", "は", "を", "で", ""),
               "ko": ("에서 ", "를 ", "은 ", " ")}
CJK_LATIN = ("Q3", "PR", "API", "deploy", "review", "v2")
EMOJI = ("👍", "🎉", "❤️", "😂", "👀", "✅", "🚀", "🙏")


@dataclass
class Timeline:
    """What the message pass learns that rows written later depend on."""

    last_seq: dict[int, int]
    channel_messages: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    own_last: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    last_message_at: dict[int, datetime] = field(default_factory=dict)


def seed(messages: int) -> None:
    """Seed an empty database with the history data and write the marker last."""
    with broadcasts_off():
        _seed(messages)


@contextmanager
def broadcasts_off() -> Iterator[None]:
    """No channel layer while seeding: nobody listens yet, and each broadcast sent from a
    process without a running event loop costs about 3 ms (a new loop and Redis
    connection per async_to_sync call), which would dominate creating the conversations."""
    with override_settings(CHANNEL_LAYERS={}):
        yield


def _seed(messages: int) -> None:
    rng = random.Random(RANDOM_SEED)
    started = time.monotonic()
    people = _create_people()
    _log(f"  {len(people)} people ({time.monotonic() - started:.0f} s)")
    _create_conversations(people, rng)
    members = _members_by_conversation()
    _log(f"  {len(members)} conversations, {sum(map(len, members.values()))} memberships "
         f"({time.monotonic() - started:.0f} s)")
    start = datetime.now(UTC) - timedelta(days=HISTORY_DAYS, hours=1)
    names = dict(User.objects.filter(pk__in=[p.pk for p in people]).values_list("pk", "display_name"))
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Durability of the seed is not what we measure; speed of loading it matters.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        timeline = _write_messages(messages, members, names, start, rng)
        _log(f"  {messages} messages with their events ({time.monotonic() - started:.0f} s)")
        _update_conversations(timeline, start)
        _update_read_positions(members, timeline, rng)
        _derived_rows()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    Conversation.objects.filter(name=database.MARKER_CONVERSATION).update(
        purpose=database.marker_text(messages))
    _log(f"  seeded in {time.monotonic() - started:.0f} s")


def _derived_rows() -> None:
    """What the services keep beside the messages, filled as migrations 0010 and 0011
    fill it for existing data: each reply's thread starter and each reaction's message
    author; threads followed by their starters and repliers, read to the end except
    for a share left unread from their first reply on, as read positions are."""
    from importlib import import_module

    statements = [*import_module("messaging.migrations.0011_activity").BACKFILL,
                  *import_module("messaging.migrations.0010_thread_follow").FOLLOW_EXISTING]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        cursor.execute("SELECT setseed(%s)", [0.42])
        cursor.execute("UPDATE messaging_threadfollow SET last_read_reply_id = root_id "
                       "WHERE random() < %s", [1 - CAUGHT_UP_SHARE])


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _create_people() -> list[User]:
    people = []
    for index in range(PEOPLE):
        name = f"{FIRST_NAMES[index % len(FIRST_NAMES)]} {LAST_NAMES[index // len(FIRST_NAMES)]}"
        people.append(account_services.user_create(
            email=f"person{index:03d}@history.bench.example", display_name=name, password=None))
    return people


def _create_conversations(people: list[User], rng: random.Random) -> None:
    hot, others = people[0], people[1:]
    hot_channels = set(rng.sample(range(CHANNELS), HOT_CHANNELS))
    for index in range(CHANNELS):
        chosen = rng.sample(others, rng.randint(*CHANNEL_SIZES))
        if index in hot_channels:
            chosen[rng.randrange(len(chosen))] = hot
        kind = ConversationKind.PRIVATE if index % 4 == 0 else ConversationKind.PUBLIC
        messaging_services.conversation_create(
            actor=chosen[0], kind=kind, name=f"bench-h-{index:04d}",
            member_ids=[person.pk for person in chosen[1:]])
    pairs = {(hot.pk, person.pk) for person in others[:HOT_DIRECTS]}
    while len(pairs) < DIRECTS:
        first, second = rng.sample(others, 2)
        pairs.add((min(first.pk, second.pk), max(first.pk, second.pk)))
    by_id = {person.pk: person for person in people}
    for first, second in sorted(pairs):
        messaging_services.conversation_direct_open(actor=by_id[first], member_ids=[second])


def _members_by_conversation() -> dict[int, list[int]]:
    members: dict[int, list[int]] = {}
    for conversation_id, user_id in Membership.objects.filter(
            user__email__endswith="@history.bench.example").order_by(
            "conversation_id", "user_id").values_list("conversation_id", "user_id"):
        members.setdefault(conversation_id, []).append(user_id)
    return members


def _text_pool(rng: random.Random, size: int = 400) -> list[tuple[str, str]]:
    """Message bodies with their HTML, rendered once by the real renderer: `size` in
    English, and CJK_SHARE of the whole in Chinese, Japanese or Korean (drawn from a
    random generator of their own, so the English ones stay what they were)."""
    pool = []
    cjk_rng = random.Random(RANDOM_SEED + 31)
    for _ in range(round(size * CJK_SHARE / (1 - CJK_SHARE))):
        language = cjk_rng.choice(sorted(CJK_WORDS))
        parts = []
        for _ in range(cjk_rng.randint(3, 25)):
            word = (cjk_rng.choice(CJK_LATIN) if cjk_rng.random() < 0.08
                    else cjk_rng.choice(CJK_WORDS[language]))
            parts += [word, cjk_rng.choice(CJK_JOINERS[language])]
        text = "".join(parts).strip() + cjk_rng.choice(("。", "？", "！", "") if language != "ko"  # noqa: RUF001
                                                      else (".", "?", "!", ""))
        pool.append((text, markdown.render(text).html))
    for _ in range(size):
        words = rng.choices(WORDS, k=rng.randint(3, 40))
        if rng.random() < 0.2:
            spot = rng.randrange(len(words))
            words[spot] = f"`{words[spot]}`" if rng.random() < 0.5 else f"**{words[spot]}**"
        text = " ".join(words).capitalize() + rng.choice((".", "?", "!", ""))
        pool.append((text, markdown.render(text).html))
    return pool


def _mention_render(text: str, user_id: int, name: str) -> str:
    target = markdown.MentionTarget(user_id, name)

    def resolve(refs: markdown.MentionRefs) -> markdown.Resolved:
        return markdown.Resolved(users_by_name={name.lower(): target})

    return markdown.render(text, resolve).html


def _first_message_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM messaging_message")
        return cursor.fetchone()[0]


def _write_messages(count: int, members: dict[int, list[int]], names: dict[int, str],
                    start: datetime, rng: random.Random) -> Timeline:
    """Generate the messages in time order (ids increase with time across conversations,
    as they do when people chat) and COPY them and the rows that hang off them."""
    conversation_ids = sorted(members)
    # A few large conversations and a long tail: weight 1/(rank + 10) gives the largest
    # about 2% of all messages and the smallest about 0.02%.
    ranked = conversation_ids[:]
    rng.shuffle(ranked)
    weights = [1 / (rank + 10) for rank in range(len(ranked))]
    picks = rng.choices(ranked, weights=weights, k=count)
    pool = _text_pool(rng)
    step = HISTORY_DAYS * 86400 / count
    timeline = Timeline(last_seq=dict(Conversation.objects.filter(
        pk__in=conversation_ids).values_list("pk", "last_seq")))
    roots: dict[int, deque[int]] = {cid: deque(maxlen=20) for cid in conversation_ids}
    threads: dict[int, list[Any]] = {}  # root id -> [reply_count, last_reply_at, participants]
    rows: list[list[Any]] = []
    events: list[tuple[Any, ...]] = []
    mentions: list[tuple[Any, ...]] = []
    reactions: list[tuple[Any, ...]] = []
    message_id = _first_message_id()
    first_id = message_id
    for index, conversation_id in enumerate(picks):
        created_at = start + timedelta(seconds=(index + rng.random()) * step)
        people = members[conversation_id]
        author = rng.choice(people)
        seq = timeline.last_seq[conversation_id] + 1
        timeline.last_seq[conversation_id] = seq
        root_id = None
        also_in_channel = False
        if roots[conversation_id] and rng.random() < REPLY_SHARE:
            root_id = rng.choice(roots[conversation_id])
            also_in_channel = rng.random() < ALSO_IN_CHANNEL_SHARE
            _add_reply(threads.setdefault(root_id, [0, None, [rows[root_id - first_id][1]]]),
                       author, created_at)
        text, html = rng.choice(pool)
        if len(people) > 1 and rng.random() < MENTION_SHARE:
            mentioned = rng.choice([p for p in people if p != author])
            text = f"@**{names[mentioned]}** {text}"
            html = _mention_render(text, mentioned, names[mentioned])
            mentions.append((message_id, mentioned, "user", conversation_id, seq))
        if rng.random() < REACTION_SHARE:
            for user_id in rng.sample(people, min(len(people), rng.randint(1, 3))):
                reactions.append((message_id, user_id, rng.choice(EMOJI),
                                  created_at + timedelta(seconds=rng.randint(5, 3600))))
        rows.append([message_id, author, conversation_id, root_id, also_in_channel, text, html,
                     seq, f"seed-{message_id}", created_at])
        events.append((conversation_id, seq, "message.created", message_id,
                       Jsonb({"thread_root": root_id} if root_id else {}), created_at))
        if root_id is None or also_in_channel:
            timeline.channel_messages.setdefault(conversation_id, []).append((seq, message_id))
            timeline.own_last[(conversation_id, author)] = (seq, message_id)
            timeline.last_message_at[conversation_id] = created_at
        if root_id is None:
            roots[conversation_id].append(message_id)
        message_id += 1
    _copy_messages(rows, threads)
    _copy("messaging_conversationevent",
          ("conversation_id", "seq", "type", "message_id", "payload", "created_at"), events)
    _copy("messaging_mention", ("message_id", "user_id", "kind", "conversation_id", "seq"),
          mentions)
    _copy("messaging_reaction", ("message_id", "user_id", "emoji", "created_at"), reactions)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('messaging_message', 'id'), %s)",
                       [message_id - 1])
    return timeline


def _add_reply(thread: list[Any], author: int, at: datetime) -> None:
    """The root's thread summary after one more reply, kept as message_create keeps it:
    the root's author first, then repliers in the order they last replied."""
    participants: list[int] = thread[2]
    if author in participants and author != participants[0]:
        participants.remove(author)
    if author not in participants:
        participants.append(author)
    thread[0] += 1
    thread[1] = at


def _copy_messages(rows: list[list[Any]], threads: dict[int, list[Any]]) -> None:
    columns = ("id", "author_id", "conversation_id", "thread_root_id", "also_in_channel", "text",
               "html", "seq", "client_msg_id", "created_at", "reply_count", "last_reply_at",
               "thread_participants", "has_link", "ciphertext", "nonce")

    def full_rows() -> Any:
        for row in rows:
            reply_count, last_reply_at, participants = threads.get(row[0], (0, None, []))
            yield (*row, reply_count, last_reply_at, Jsonb(participants[-50:]), False, "", "")

    _copy("messaging_message", columns, full_rows())


def _copy(table: str, columns: tuple[str, ...], rows: Any) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _update_conversations(timeline: Timeline, start: datetime) -> None:
    created_at = start - timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE messaging_conversation SET last_seq = %s, last_message_at = %s, "
            "created_at = %s WHERE id = %s",
            [(seq, timeline.last_message_at.get(cid), created_at, cid)
             for cid, seq in timeline.last_seq.items()])
        ids = list(timeline.last_seq)
        cursor.execute("UPDATE messaging_conversationevent SET created_at = %s "
                       "WHERE seq = 1 AND conversation_id = ANY(%s)", [created_at, ids])
        cursor.execute("UPDATE messaging_membership SET joined_at = %s "
                       "WHERE conversation_id = ANY(%s)", [created_at, ids])


def _update_read_positions(members: dict[int, list[int]], timeline: Timeline,
                           rng: random.Random) -> None:
    """Most people have read everything; the rest are some channel messages behind, but
    never before their own latest message (sending marks it read)."""
    updates = []
    for conversation_id, user_ids in members.items():
        channel = timeline.channel_messages.get(conversation_id, [])
        for user_id in user_ids:
            behind = 0 if rng.random() < CAUGHT_UP_SHARE else 1 + int(rng.expovariate(1 / MEAN_UNREAD))
            position = len(channel) - 1 - behind
            seq, message_id = channel[position] if position >= 0 else (0, 0)
            own = timeline.own_last.get((conversation_id, user_id))
            if own is not None and own[0] > seq:
                seq, message_id = own
            updates.append((seq, message_id, conversation_id, user_id))
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE messaging_membership SET last_read_seq = %s, last_read_message_id = %s "
            "WHERE conversation_id = %s AND user_id = %s", updates)
