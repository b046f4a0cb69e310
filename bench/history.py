"""History and unread counts, in-process: the real selectors and payload builders against
the seeded PostgreSQL database, each timed call beside a bare SQL baseline.

- newest page: message_history() of a conversation, then message_payload() of each of
  its 50 messages (what GET /conversations/{id}/messages/ does before rendering JSON);
- deep page: the same with `before=` a message far back in a large conversation;
- conversation list: membership_list() evaluated fully for the person in 500
  conversations (their unread and mention counts included).

The baseline of a page is one SELECT of the same 50 rows through a raw cursor, by the
(conversation_id, id) index and with the same channel-visibility filter. The baseline of
the list is one SELECT of the same 500 memberships and their conversations, without the
counts.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q

from accounts.models import User
from bench import timing
from bench.seed_history import HOT_EMAIL
from bench.stats import Row, Spread
from messaging.models import Membership, Message
from messaging.payloads import message_payload
from messaging.selectors import DEFAULT_PAGE, membership_list, message_history

AIM_MS = 10.0
LARGE_CONVERSATIONS = 20
DEEP_CONVERSATIONS = 5

NEWEST_SQL = (
    "SELECT * FROM messaging_message WHERE conversation_id = %s "
    "AND (thread_root_id IS NULL OR also_in_channel) ORDER BY id DESC LIMIT 50"
)
BEFORE_SQL = (
    "SELECT * FROM messaging_message WHERE conversation_id = %s AND id < %s "
    "AND (thread_root_id IS NULL OR also_in_channel) ORDER BY id DESC LIMIT 50"
)
LIST_SQL = (
    "SELECT * FROM messaging_membership m JOIN messaging_conversation c "
    "ON c.id = m.conversation_id WHERE m.user_id = %s "
    "ORDER BY c.last_message_at DESC, c.id DESC"
)


@dataclass(frozen=True)
class Iterations:
    pages: int
    lists: int
    warmup: int


def run(*, quick: bool) -> list[Row]:
    iterations = Iterations(pages=300, lists=60, warmup=20) if quick else Iterations(
        pages=2000, lists=300, warmup=50)
    reader = User.objects.get(email=HOT_EMAIL)
    large = _large_conversations(reader)
    anchors = _deep_anchors(large)
    depth = sorted(position for _, position, _ in anchors)[len(anchors) // 2]
    rows = [
        _page_row("history: newest page of 50", reader, [(cid, None) for cid in large],
                  iterations),
        _page_row("history: page of 50 deep in history", reader,
                  [(cid, anchor) for cid, _, anchor in anchors], iterations,
                  depth=f"; median depth {depth} messages back"),
        _list_row(reader, iterations),
    ]
    return rows


def _large_conversations(reader: User) -> list[int]:
    """The reader's conversations with the most history."""
    return list(
        Membership.objects.filter(user=reader).order_by("-conversation__last_seq")
        .values_list("conversation_id", flat=True)[:LARGE_CONVERSATIONS]
    )


def _deep_anchors(conversation_ids: list[int]) -> list[tuple[int, int, int]]:
    """(conversation, depth, message id): pages `before` a message in the older half of
    the largest conversations, picked at random so that successive pages lie far apart;
    depth counts channel messages from the newest."""
    rng = random.Random(7)
    anchors = []
    for conversation_id in conversation_ids[:DEEP_CONVERSATIONS]:
        ids = list(Message.objects.filter(conversation_id=conversation_id).filter(
            Q(thread_root__isnull=True) | Q(also_in_channel=True)).order_by("id")
            .values_list("id", flat=True))
        older_half = range(DEFAULT_PAGE, max(DEFAULT_PAGE + 1, len(ids) // 2))
        anchors += [(conversation_id, len(ids) - position, ids[position])
                    for position in rng.sample(older_half, min(len(older_half), 400))]
    rng.shuffle(anchors)
    return anchors


def _page_call(reader: User, conversation_id: int, before: int | None) -> Callable[[], Any]:
    def call() -> list[dict[str, Any]]:
        page = message_history(user=reader, conversation_id=conversation_id, before=before)
        return [message_payload(message) for message in page.messages]

    return call


def _page_baseline(conversation_id: int, before: int | None) -> Callable[[], Any]:
    def call() -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            if before is None:
                cursor.execute(NEWEST_SQL, [conversation_id])
            else:
                cursor.execute(BEFORE_SQL, [conversation_id, before])
            return cursor.fetchall()

    return call


def _page_row(name: str, reader: User, cases: list[tuple[int, int | None]],
              iterations: Iterations, depth: str = "") -> Row:
    ours, baseline = timing.paired(
        [(_page_call(reader, cid, before), _page_baseline(cid, before)) for cid, before in cases],
        iterations.pages, iterations.warmup)
    cid, before = cases[0]
    queries = timing.query_count(_page_call(reader, cid, before))
    sizes = {len(_page_call(reader, c, b)()) for c, b in cases[:5]}
    return _row(name, ours, baseline, notes=[
        f"{iterations.pages} calls over {len({c for c, _ in cases})} conversations; "
        f"{queries} queries per call; {'/'.join(map(str, sorted(sizes)))} messages per page"
        + depth])


def _list_row(reader: User, iterations: Iterations) -> Row:
    def ours() -> list[Membership]:
        return list(membership_list(user=reader))

    def baseline() -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(LIST_SQL, [reader.pk])
            return cursor.fetchall()

    ours_samples, base_samples = timing.paired([(ours, baseline)], iterations.lists,
                                              iterations.warmup)
    memberships = ours()
    unread = sum(1 for m in memberships if m.unread_count)
    return _row(
        f"history: conversation list of a person in {len(memberships)} conversations",
        ours_samples, base_samples, notes=[
            f"{iterations.lists} calls; {timing.query_count(ours)} query per call; "
            f"{unread} conversations with unread messages, "
            f"{sum(m.unread_count for m in memberships)} unread and "
            f"{sum(m.mention_count for m in memberships)} mentions in all"])


def _row(name: str, ours: Spread, baseline: Spread, *, notes: list[str]) -> Row:
    return Row(benchmark=name, measure="p50 / p99 ms", ours=(ours.p50, ours.p99),
               baseline=(baseline.p50, baseline.p99), baseline_name="bare SELECT",
               aim=f"p99 < {AIM_MS:g} ms", met=ours.p99 < AIM_MS, notes=notes)
