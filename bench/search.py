"""Message search, in-process: `messaging.search.message_search` (what GET
/api/v1/search/messages/ calls, page 1 of 20) against the seeded PostgreSQL database,
each call beside a bare full-text query on the same words.

Queries come in eight kinds, chosen for how often their words occur in the seeded text
(bench/seed_history.py draws message bodies from a pool of 400 English texts built from
WORDS with equal weights, so every one of those words is in about a quarter of the English
messages, and 100 in CJK; people's names occur only in mentions):

- common words: single words of WORDS;
- rare words: surnames and first names, found only in the 2% of messages that mention
  someone, and a word no message holds;
- exact phrases: words of WORDS side by side, in quotes (one with a stop word between
  two words, which must be a stop word in the message too);
- filtered: a common word with in:#channel, from:@person, has:link or before:/after:;
- CJK one, two and four characters, and mixed scripts (issue 31): a fifth of the seeded
  messages are Chinese, Japanese or Korean (seed_history.CJK_WORDS), found by any run of
  characters through their bigrams and unigrams (messaging/search_cjk.py). One character
  is a unigram in many messages (会 is in about a third of the CJK ones); four are three
  bigrams side by side, some a substring of a longer word (ータベー of データベース);
  mixed: a Latin part and a CJK run (Q3の売上) or an English word beside a CJK term.

Each is run as the person in 500 conversations and as the person in the fewest. The
baseline is `SELECT id FROM messaging_message WHERE search_vector @@
websearch_to_tsquery('english', …) LIMIT 21` on the same words (for CJK, @@ the same
tsquery search builds, messaging.search.tsquery_sql): no permission filter, no ranking,
no filters, no snippets.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Max

from accounts.models import User
from bench import timing
from bench.seed_history import HOT_EMAIL
from bench.stats import Row, percentile
from messaging.models import ConversationKind, Membership, Message
from messaging.search import SEARCH_CONFIG, message_search, tsquery_sql
from messaging.search_syntax import parse, websearch_text

AIM_MS = 50.0
PAGE = 20
# {query} is messaging.search.tsquery_sql's expression; every value is a parameter.
BASELINE_SQL = "SELECT id FROM messaging_message WHERE search_vector @@ ({query}) LIMIT %s"
COUNT_SQL = "SELECT count(*) FROM messaging_message WHERE search_vector @@ ({query})"
# A phrase's matches as search counts them: its words side by side, a stop word between
# them standing for a stop word (messaging.search._holding_phrase_pairs).
PHRASE_COUNT_SQL = (
    "SELECT count(*) FROM messaging_message WHERE search_vector @@ websearch_to_tsquery(%s, %s) "
    "AND messaging_message_pairs(search_vector) @> messaging_message_pairs(to_tsvector(%s, %s))"
)


@dataclass(frozen=True)
class Kind:
    name: str
    queries: list[str]


def run(*, quick: bool) -> list[Row]:
    calls, warmup = (6, 1) if quick else (30, 3)
    hot = User.objects.get(email=HOT_EMAIL)
    few = (User.objects.filter(email__endswith="@history.bench.example")
           .annotate(conversations=Count("memberships")).order_by("conversations", "pk").first())
    assert few is not None
    kinds = _kinds(hot)
    frequencies = _frequencies(kinds)
    rows = []
    for person, label in ((hot, "the person in 500 conversations"),
                          (few, f"a person in {few.conversations} conversations")):
        for kind in kinds:
            rows.append(_row(kind, person, label, calls, warmup, frequencies))
    return rows


def ensure_search_vectors() -> int:
    """Fill search_vector where it is missing (the trigger fills it on INSERT and COPY,
    so this finds nothing on a seed made by bench/seed_history.py); how many rows it filled."""
    filled = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "UPDATE messaging_message SET search_vector = messaging_message_search_document(text) "
                "WHERE id IN (SELECT id FROM messaging_message WHERE search_vector IS NULL LIMIT 20000)")
            if not cursor.rowcount:
                return filled
            filled += cursor.rowcount


def _kinds(hot: User) -> list[Kind]:
    channel = (Membership.objects.filter(user=hot).exclude(conversation__kind=ConversationKind.DIRECT)
               .order_by("-conversation__last_seq").values_list("conversation__name", flat=True)[0])
    latest = Message.objects.aggregate(latest=Max("created_at"))["latest"]
    after = (latest - timedelta(days=90)).date()
    before = after + timedelta(days=30)
    return [
        Kind("common words", ["deploy", "review", "database", "customer"]),
        Kind("rare words", ["Mwangi", "Yusuf", "Okafor", "kubernetes"]),
        Kind("exact phrases", ['"looks good"', '"rollback staging"', '"quarter the migration"']),
        Kind("filtered", [f"deploy in:#{channel}", "review from:@person001", "has:link deploy",
                          f"database after:{after.isoformat()} before:{before.isoformat()}"]),
        Kind("CJK one character", ["会", "서", "東"]),
        Kind("CJK two characters", ["上海", "会議", "서울", "大阪"]),
        Kind("CJK four characters", ["打ち合わ", "ータベー", "이터베이", "东京测试"]),
        Kind("mixed scripts", ["Q3の売上", "PRのレビュー", "v2版本", "API 서버", "deploy 上海"]),
    ]


def _frequencies(kinds: list[Kind]) -> dict[str, int]:
    """Messages matching each query's words, whoever may see them."""
    counts = {}
    with connection.cursor() as cursor:
        for kind in kinds:
            for query in kind.queries:
                spec = parse(query)
                phrase = [t.text for group in spec.groups for t in group if t.phrase]
                if phrase and len(spec.groups) == 1 and len(spec.groups[0]) == 1:
                    cursor.execute(PHRASE_COUNT_SQL, [SEARCH_CONFIG, websearch_text(spec),
                                                      SEARCH_CONFIG, phrase[0]])
                else:
                    query_sql, params = tsquery_sql(spec)
                    cursor.execute(COUNT_SQL.format(query=query_sql), params)
                counts[query] = cursor.fetchone()[0]
    return counts


def _call(person: User, query: str) -> Callable[[], Any]:
    def call() -> list[Any]:
        return message_search(user=person, query=query, limit=PAGE).hits

    return call


def _baseline(query: str) -> Callable[[], Any]:
    query_sql, params = tsquery_sql(parse(query))

    def call() -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(BASELINE_SQL.format(query=query_sql), [*params, PAGE + 1])
            return cursor.fetchall()

    return call


def _row(kind: Kind, person: User, label: str, calls: int, warmup: int,
         frequencies: dict[str, int]) -> Row:
    ours: list[float] = []
    base: list[float] = []
    hits = {}
    for query in kind.queries:
        hits[query] = len(_call(person, query)())
        mine, theirs = timing.paired_seconds([(_call(person, query), _baseline(query))], calls, warmup)
        ours += mine
        base += theirs
    figures = tuple(percentile(ours, f) * 1000 for f in (0.5, 0.95, 0.99))
    baseline = tuple(percentile(base, f) * 1000 for f in (0.5, 0.95, 0.99))
    print(f"  search {kind.name} as {label}: p50 {figures[0]:.1f} ms, p95 {figures[1]:.1f} ms",
          file=sys.stderr, flush=True)
    described = ", ".join(f"`{q}` ({frequencies[q]:,} matching, {hits[q]} shown)" for q in kind.queries)
    return Row(benchmark=f"search: {kind.name}, as {label}", measure="p50 / p95 / p99 ms",
               ours=figures, baseline=baseline, baseline_name="bare full-text SELECT",
               aim=f"p95 < {AIM_MS:g} ms", met=figures[1] < AIM_MS,
               notes=[f"{calls} calls of each query after {warmup} unmeasured: {described}"])
