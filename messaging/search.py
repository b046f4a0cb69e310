"""Message search: what a person may see, ranked by relevance with recency, with
highlighted snippets. PostgreSQL full-text search (GIN-indexed tsvector) in production,
SQLite FTS5 in the embedded mode; the same syntax (search_syntax.py) for both.
"""

from __future__ import annotations

import html
import operator
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import reduce
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import connection, connections
from django.db.models import (
    BigAutoField,
    BooleanField,
    F,
    ForeignKey,
    Func,
    Lookup,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

from accounts.models import User
from core.errors import InvalidInput
from core.replica import replica_alias
from messaging import search_cjk
from messaging.models import Conversation, ConversationKind, Membership, Message
from messaging.search_syntax import SearchSpec, Term, fts5_match, parse, websearch_text

MAX_PAGE_SIZE = 50
MAX_DEPTH = 1000  # how far down the ranking one may page
SEARCH_CONFIG = "english"
HIGHLIGHT_START, HIGHLIGHT_STOP = "\x02", "\x03"
# Relevance is divided by 1 + age/RECENCY_DAYS: a month-old match needs twice the
# relevance of today's to rank beside it.
RECENCY_DAYS = 30.0
MAX_MATCH_WORDS = 20
# On PostgreSQL, when more messages match than this, the newest this many are ranked (the
# deepest page one may reach is MAX_DEPTH).
RANKED_MATCHES = MAX_DEPTH
# With in: or from:, how many of the scope's newest messages are read, before the index,
# to find them (search._newest_in_narrow_scope).
WALKED_MESSAGES = 5 * RANKED_MATCHES


@BigAutoField.register_lookup
@ForeignKey.register_lookup
class AnyOf(Lookup):
    """`conversation_id__any_of=[...]`: on PostgreSQL one array parameter (`= ANY(%s)`)
    rather than IN with a placeholder per id, which psycopg parses anew for every query of
    a different length (9 ms for a thousand conversations) and Django builds id by id."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [int(value) for value in self.rhs]
        if not values:
            return "1 = 0", []
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [int(value) for value in self.rhs]
        if len(values) == 1:  # equality: the planner can then walk a (column, id) index in order
            return f"{lhs} = %s", [*lhs_params, values[0]]
        return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, values]


@dataclass
class SearchHit:
    message: Message
    highlight: str
    # The words of the text that matched, as written there, and the words searched for:
    # the browser marks them in the rendered message (docs/api.md, "Search").
    match_words: list[str] = field(default_factory=list)
    before: Message | None = None  # the message shown above it, for context
    after: Message | None = None   # and below it
    conversation_kind: str = ""


@dataclass
class SearchPage:
    hits: list[SearchHit]
    page: int
    has_more: bool


def visible_conversations(user: User) -> QuerySet[Conversation]:
    """Conversations the person may search now: theirs, and public channels unless they
    are a guest or a bot."""
    mine = Membership.objects.filter(user=user).values("conversation_id")
    if user.is_guest or user.is_bot:
        return Conversation.objects.filter(pk__in=mine)
    return Conversation.objects.filter(Q(pk__in=mine) | Q(kind=ConversationKind.PUBLIC))


def _day_start(day: date, tz: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def _cjk_terms(spec: SearchSpec) -> list[Term]:
    return [term for term in (*(t for group in spec.groups for t in group), *spec.excluded)
            if search_cjk.has_cjk(term.text)]


def tsquery_sql(spec: SearchSpec) -> tuple[str, list[Any]]:
    """The terms as a PostgreSQL tsquery expression and its parameters. Without CJK, the
    whole query through websearch_to_tsquery; with CJK, term by term: each term's Latin
    part through websearch_to_tsquery (a phrase stays a phrase), its CJK runs as their
    bigrams side by side (search_cjk.tsquery_literal), the two required together; the
    terms of a group joined by ||, the groups by &&, exclusions negated."""
    if not _cjk_terms(spec):
        return "websearch_to_tsquery(%s, %s)", [SEARCH_CONFIG, websearch_text(spec)]

    def term_sql(term: Term) -> tuple[str, list[Any]]:
        latin, cjk_runs = search_cjk.split_term(term.words)
        parts, params = [], []
        if any(ch.isalnum() for ch in latin):
            parts.append("websearch_to_tsquery(%s, %s)")
            params += [SEARCH_CONFIG, f'"{latin}"' if term.phrase else latin]
        if cjk_runs:
            parts.append("%s::tsquery")
            params.append(search_cjk.tsquery_literal(cjk_runs))
        return "(" + " && ".join(parts) + ")", params

    clauses, params = [], []
    for group in spec.groups:
        terms = [term_sql(term) for term in group]
        clauses.append("(" + " || ".join(sql for sql, _ in terms) + ")")
        params += [p for _, term_params in terms for p in term_params]
    for term in spec.excluded:
        sql, term_params = term_sql(term)
        clauses.append(f"!!{sql}")
        params += term_params
    return " && ".join(clauses), params


def _directory(user: User) -> QuerySet[User]:
    from accounts.selectors import user_list

    return user_list(viewer=user, include_deactivated=True).annotate(
        lower_name=Lower("display_name"), lower_email=Lower("email"))


def _people(user: User, names: list[str], field: str) -> list[int]:
    """The people each name stands for: an email, the part of an email before the "@",
    a display name (dots, dashes and underscores read as spaces), or else the start of
    exactly one person's display name (a first name). A name no one or several people
    answer to is a clear error, never an empty result without a reason."""
    ids: list[int] = []
    directory = _directory(user)
    for name in names:
        compact = " ".join(name.replace(".", " ").replace("_", " ").replace("-", " ").split())
        match = directory.filter(
            Q(lower_email=name) | Q(lower_email__startswith=name + "@")
            | Q(lower_name=name) | Q(lower_name=compact)
        ).values_list("pk", flat=True)
        found = list(match[:5])
        if not found:
            partial = list(directory.filter(lower_name__startswith=compact + " ")
                           .order_by("display_name").values_list("pk", "display_name")[:4])
            if len(partial) > 1:
                choices = ", ".join(shown for _, shown in partial[:3])
                raise InvalidInput.for_field(
                    "q", f"{field}:{name} could be {choices}: write the whole name in quotes, "
                         f'like {field}:"{partial[0][1]}", or an email.', code="bad_query")
            found = [pk for pk, _ in partial]
        if not found:
            raise InvalidInput.for_field(
                "q", f"No one called \"{name}\" for {field}: — write a person's name "
                     f'(like {field}:"Ana Lopez"), email, or @ and the start of their email.',
                code="bad_query")
        ids.extend(found)
    return ids


def _resolve_name_tails(user: User, spec: SearchSpec) -> None:
    """Settle each bare name followed by plain words (from:Ana Lopez): the longest run of
    them that makes someone's display name joins the name and stops being search words."""
    if not any(spec.name_tails.values()):
        return
    directory = _directory(user)
    for (operator_name, index), tail in spec.name_tails.items():
        places = spec.from_people if operator_name == "from" else spec.in_places
        head = places[index].lstrip("?")
        for length in range(len(tail), 0, -1):
            candidate = " ".join([head, *(term.text.lower() for term in tail[:length])])
            if directory.filter(lower_name=candidate).exists():
                places[index] = candidate if operator_name == "from" else "@" + candidate
                consumed = tail[:length]
                # By identity: the same word elsewhere in the query stays a search word.
                spec.groups = [group for group in spec.groups
                               if not (len(group) == 1 and any(group[0] is t for t in consumed))]
                break


def _filtered(user: User, spec: SearchSpec) -> QuerySet[Message]:
    # End-to-end encrypted conversations are never searched here: the server holds only
    # ciphertext (the browser searches what it has decrypted).
    searchable = visible_conversations(user).filter(encrypted=False)
    # The conversations as a list of ids rather than a subquery: the planner then knows
    # which (and how many) they are, and an in: filter can walk the (conversation, id) index.
    allowed = set(searchable.values_list("pk", flat=True))
    for place in spec.in_places:
        if place.startswith("?"):
            # A bare in:name is the channel of that name, else the person.
            channel_ids = set(searchable.exclude(kind=ConversationKind.DIRECT)
                              .filter(name=place[1:]).values_list("pk", flat=True))
            if channel_ids:
                allowed &= channel_ids
                continue
            try:
                _people(user, [place[1:]], "in")
            except InvalidInput:
                raise InvalidInput.for_field(
                    "q", f"There is no channel or person called {place[1:]} you can see.",
                    code="bad_query") from None
            place = "@" + place[1:]
        if place.startswith("#"):
            channel_ids = set(searchable.exclude(kind=ConversationKind.DIRECT)
                              .filter(name=place[1:]).values_list("pk", flat=True))
            if not channel_ids:
                raise InvalidInput.for_field("q", f"There is no channel {place} you can see.",
                                             code="bad_query")
            allowed &= channel_ids
        else:
            people = _people(user, [place[1:]], "in")
            allowed &= set(Membership.objects.filter(
                user_id__in=people, conversation__kind=ConversationKind.DIRECT,
                conversation__memberships__user=user).values_list("conversation_id", flat=True))
    messages = Message.objects.filter(conversation__any_of=sorted(allowed), deleted_at__isnull=True)
    if spec.from_people:
        messages = messages.filter(author_id__in=_people(user, spec.from_people, "from"))
    if "file" in spec.has:
        messages = messages.filter(attachments__isnull=False).distinct()
    if "link" in spec.has:
        messages = messages.filter(has_link=True)
    if spec.is_thread:
        messages = messages.filter(Q(thread_root__isnull=False) | Q(reply_count__gt=0))
    tz = zoneinfo.ZoneInfo(user.timezone or "UTC")
    if spec.after:
        messages = messages.filter(created_at__gte=_day_start(spec.after, tz))
    if spec.before:
        messages = messages.filter(created_at__lt=_day_start(spec.before, tz))
    return messages


def _mark(snippet: str) -> str:
    """Escape a snippet and turn the highlight markers into <mark> elements."""
    escaped = html.escape(snippet)
    return escaped.replace(HIGHLIGHT_START, "<mark>").replace(HIGHLIGHT_STOP, "</mark>")


_MARKED = re.compile(f"{HIGHLIGHT_START}(.*?){HIGHLIGHT_STOP}", re.DOTALL)


def _match_words(raw_snippet: str, spec: SearchSpec) -> list[str]:
    """What to mark in a result: the words the database marked in its snippet (they are the
    text's own forms of the stemmed words: "deploying" for deploy) and the words searched
    for, each once, longest first, at most MAX_MATCH_WORDS."""
    words: dict[str, None] = {}
    for marked in _MARKED.findall(raw_snippet or ""):
        for word in marked.split():
            words.setdefault(word.lower(), None)
    for group in spec.groups:
        for term in group:
            for word in term.words.split():
                words.setdefault(word.lower(), None)
    for word in _cjk_marks(spec):  # and each CJK run and Latin part of a mixed word
        words.setdefault(word, None)
    return sorted(words, key=len, reverse=True)[:MAX_MATCH_WORDS]


def _cjk_marks(spec: SearchSpec) -> list[str]:
    return search_cjk.marks([term.words for group in spec.groups for term in group
                             if search_cjk.has_cjk(term.text)])


def _plain_snippet(text: str, length: int = 200) -> str:
    text = " ".join(text.split())
    return html.escape(text[:length] + ("…" if len(text) > length else ""))


def message_search(*, user: User, query: str, page: Any = 1, limit: Any = 20) -> SearchPage:
    spec = parse(query)
    _resolve_name_tails(user, spec)
    try:
        page, limit = int(page), int(limit)
    except (TypeError, ValueError):
        raise InvalidInput("page and limit must be whole numbers.",
                           fields={"page": ["Whole number."], "limit": ["Whole number."]}) from None
    if page < 1 or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page starts at 1; limit is 1 to {MAX_PAGE_SIZE}.",
                           fields={"limit": [f"1 to {MAX_PAGE_SIZE}."]})
    if page * limit > MAX_DEPTH:
        raise InvalidInput.for_field("page", f"Refine the search: results stop at {MAX_DEPTH}.")
    offset = (page - 1) * limit
    # The heavy scan may read from the replica; the hits are loaded from the primary below.
    messages = _filtered(user, spec).using(replica_alias())
    if not spec.has_terms and not spec.excluded:
        rows = list(messages.order_by("-id").values_list("pk", flat=True)[offset: offset + limit + 1])
        snippets: dict[int, str] = {}
    elif connection.vendor == "postgresql":
        rows, snippets = _postgres(messages, spec, offset, limit)
    else:
        rows, snippets = _sqlite(messages, spec, offset, limit)
    has_more = len(rows) > limit
    ids = rows[:limit]
    from messaging.selectors import messages_by_id

    neighbours = _context_ids(user, ids)
    found = messages_by_id(ids + sorted({pk for _, *pair in neighbours.values() for pk in pair if pk}))
    hits = []
    cjk_marks = _cjk_marks(spec)
    for pk in ids:
        if pk not in found or pk not in neighbours:
            continue
        raw = snippets.get(pk)
        if cjk_marks:
            raw = search_cjk.highlight(found[pk].text, raw or "", cjk_marks,
                                       HIGHLIGHT_START, HIGHLIGHT_STOP)
        kind, before, after = neighbours[pk]
        hits.append(SearchHit(found[pk], _mark(raw) if raw else _plain_snippet(found[pk].text),
                              match_words=_match_words(raw or "", spec),
                              before=found.get(before) if before else None,
                              after=found.get(after) if after else None,
                              conversation_kind=kind))
    return SearchPage(hits, page, has_more)


def _context_ids(user: User, ids: list[int]) -> dict[int, tuple[str, int | None, int | None]]:
    """For each found message, its conversation's kind and the ids of the live messages
    just before and after it where people read it: in its conversation (a thread reply not
    sent to the channel: in its thread, root included). Neighbours share the found
    message's conversation, which the searcher may see; the conversation filter is repeated
    so that this holds by itself. One query, whatever the number of results."""
    if not ids:
        return {}
    live = Message.objects.filter(conversation_id=OuterRef("conversation_id"), deleted_at__isnull=True)
    in_channel = live.filter(Q(thread_root__isnull=True) | Q(also_in_channel=True))
    in_thread = live.filter(Q(thread_root_id=OuterRef("thread_root_id")) | Q(pk=OuterRef("thread_root_id")))

    def before(scope: QuerySet[Message]) -> Subquery:
        return Subquery(scope.filter(pk__lt=OuterRef("pk")).order_by("-pk").values("pk")[:1])

    def after(scope: QuerySet[Message]) -> Subquery:
        return Subquery(scope.filter(pk__gt=OuterRef("pk")).order_by("pk").values("pk")[:1])

    rows = (Message.objects.filter(pk__in=ids, conversation__in=visible_conversations(user)
                                   .filter(encrypted=False))
            .annotate(channel_before=before(in_channel), channel_after=after(in_channel),
                      thread_before=before(in_thread), thread_after=after(in_thread))
            .values_list("pk", "conversation__kind", "thread_root_id", "also_in_channel",
                         "channel_before", "channel_after", "thread_before", "thread_after"))
    context = {}
    for pk, kind, root, also, channel_before, channel_after, thread_before, thread_after in rows:
        in_thread_only = root is not None and not also
        context[pk] = (kind, *((thread_before, thread_after) if in_thread_only
                               else (channel_before, channel_after)))
    return context


def _newest_in_narrow_scope(messages: QuerySet[Message], spec: SearchSpec) -> list[int] | None:
    """With in: or from:, the newest RANKED_MATCHES matches (or every match) found among the
    scope's newest WALKED_MESSAGES messages, when that settles it: they hold that many
    matches, or they are the whole scope. Else None, and the index decides. The planner
    would otherwise intersect the word's whole GIN posting list with the scope, which for a
    word in a quarter of all messages costs tens of milliseconds however small the scope."""
    if not (spec.in_places or spec.from_people):
        return None
    scope_sql, scope_params = (messages.order_by("-id").values("id", "search_vector")[:WALKED_MESSAGES]
                               .query.get_compiler(messages.db).as_sql())
    query_sql, query_params = tsquery_sql(spec)
    # scope_sql is Django's own SQL for the permission filters and query_sql tsquery_sql's;
    # every value is a parameter.
    sql = f"""
        SELECT count(*),
               (array_agg(w.id ORDER BY w.id DESC) FILTER (WHERE w.search_vector @@ q))[1:%s]
        FROM ({scope_sql}) w, (SELECT {query_sql}) AS query(q)
    """  # noqa: S608  # nosec B608
    with connections[messages.db].cursor() as cursor:
        cursor.execute(sql, [RANKED_MATCHES, *scope_params, *query_params])
        scanned, newest = cursor.fetchone()
    newest = newest or []
    return newest if len(newest) == RANKED_MATCHES or scanned < WALKED_MESSAGES else None


def _holding_phrase_pairs(messages: QuerySet[Message], spec: SearchSpec) -> QuerySet[Message] | None:
    """The messages narrowed to those holding the word pairs of each group of phrases that must
    match (messaging_message_pairs_gin). Without it, PostgreSQL reads every message holding
    a phrase's words, tens of thousands for two common words, to check where they stand.

    A phrase's pairs are taken the way the index takes a message's: each word with the next
    one that is not a stop word, and how many places on it stands. So a stop word inside a
    phrase matches only a stop word ("deploy to prod" finds "deploy the prod" but not
    "deploy review prod", which the tsquery's bare `deploy <2> prod` alone would also take)."""
    # A phrase with CJK in it is found by its bigrams (tsquery_sql), not its word pairs.
    groups = [group for group in spec.groups if all(term.phrase for term in group)
              and not any(search_cjk.has_cjk(term.text) for term in group)]
    if not groups:
        return None
    texts = sorted({term.words for group in groups for term in group})
    with connections[messages.db].cursor() as cursor:
        cursor.execute("SELECT text, messaging_message_pairs(to_tsvector(%s, text)) "
                       "FROM unnest(%s::text[]) AS text", [SEARCH_CONFIG, texts])
        pairs = dict(cursor.fetchall())
    conditions = []
    for group in groups:
        held = [pairs[term.words] for term in group]
        if all(held):  # a phrase of one word (stop words aside) has no pair to look up
            conditions.append(reduce(operator.or_, (Q(pairs__contains=p) for p in held)))
    if not conditions:
        return None
    return messages.alias(pairs=Func(F("search_vector"), function="messaging_message_pairs",
                                     output_field=ArrayField(TextField()))).filter(*conditions)


def _postgres(messages: QuerySet[Message], spec: SearchSpec, offset: int,
              limit: int) -> tuple[list[int], dict[int, str]]:
    query_sql, query_params = tsquery_sql(spec)
    # A quoted CJK term is a substring like an unquoted one: it is searched as a word.
    phrases = [term for group in spec.groups for term in group
               if term.phrase and not search_cjk.has_cjk(term.text)]
    # The newest first. Within after: / before: dates, by time: PostgreSQL then walks the
    # created_at index back from the end of the range and stops at RANKED_MATCHES matches,
    # where by id it read the whole range (a month: 40,000 messages, 64 ms) to sort it.
    newest_first = ("-created_at", "-id") if spec.after or spec.before else ("-id",)
    narrowed = _holding_phrase_pairs(messages, spec)
    only_phrases = (not spec.excluded and not _cjk_terms(spec)
                    and all(term.phrase for group in spec.groups for term in group))
    if narrowed is not None and only_phrases:
        # Rank the newest RANKED_MATCHES messages holding each phrase's word pairs (the
        # pairs say where each word stands, so nearly all of them match).
        candidates = narrowed.order_by(*newest_first).values("id")[:RANKED_MATCHES]
    elif narrowed is not None:
        # With other words or exclusions too, the newest holders of the pairs need not
        # match at all: rank every one that does.
        candidates = narrowed.values("id")
    elif spec.has_terms and not phrases:
        # Rank the newest RANKED_MATCHES matches only. A word in a quarter of all messages
        # is then found by walking the newest messages until that many match (milliseconds)
        # instead of ranking hundreds of thousands; a rare word still comes from the GIN
        # index.
        newest = _newest_in_narrow_scope(messages, spec)
        if newest is not None:
            candidates = Message.objects.using(messages.db).filter(pk__any_of=newest).values("id")
        else:
            # query_sql is tsquery_sql's; every value is a parameter.
            matches = messages.filter(RawSQL(  # noqa: S611  # nosec B611
                f"messaging_message.search_vector @@ ({query_sql})", query_params,
                output_field=BooleanField()))
            candidates = matches.order_by(*newest_first).values("id")[:RANKED_MATCHES]
    else:
        candidates = messages.values("id")
    # Compiled for the connection it runs on (sql_with_params() would compile for the
    # primary, and Django refuses a replica subquery inside it).
    base_sql, base_params = candidates.query.get_compiler(messages.db).as_sql()
    # base_sql is Django's own SQL for the permission filters and query_sql tsquery_sql's;
    # every value is a parameter.
    sql = f"""
        SELECT m.id FROM messaging_message m, (SELECT {query_sql}) AS query(q)
        WHERE m.id IN ({base_sql}) AND m.search_vector @@ q
        ORDER BY ts_rank_cd(m.search_vector, q, 32)
                 / (1 + EXTRACT(EPOCH FROM (now() - m.created_at)) / (86400 * %s)) DESC,
                 m.id DESC
        LIMIT %s OFFSET %s
    """  # noqa: S608  # nosec B608
    with connections[messages.db].cursor() as cursor:
        cursor.execute(sql, [*query_params, *base_params, RECENCY_DAYS, limit + 1, offset])
        rows = [row[0] for row in cursor.fetchall()]
    snippets: dict[int, str] = {}
    if rows and spec.has_terms:
        options = (f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_STOP}, MaxWords=30, "
                   "MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=\" … \"")
        with connections[messages.db].cursor() as cursor:
            # query_sql is tsquery_sql's; every value is a parameter. CJK substrings are
            # marked afterwards (search_cjk.highlight): ts_headline sees whole runs only.
            cursor.execute(
                f"SELECT id, ts_headline(%s, text, {query_sql}, %s) "  # noqa: S608  # nosec B608
                "FROM messaging_message WHERE id = ANY(%s)",
                [SEARCH_CONFIG, *query_params, options, rows[:limit]])
            snippets = dict(cursor.fetchall())
    return rows, snippets


def _sqlite(messages: QuerySet[Message], spec: SearchSpec, offset: int,
            limit: int) -> tuple[list[int], dict[int, str]]:
    base_sql, base_params = messages.values("id").query.sql_with_params()
    if not spec.has_terms:
        # Only exclusions (with filters): everything the filters keep but the excluded.
        # base_sql is Django's own SQL for the permission filters; values are parameters.
        sql = f"""
            SELECT m.id, NULL FROM messaging_message m
            WHERE m.id IN ({base_sql}) AND m.id NOT IN (
                SELECT rowid FROM messaging_message_fts WHERE messaging_message_fts MATCH %s)
            ORDER BY m.id DESC LIMIT %s OFFSET %s
        """  # noqa: S608  # nosec B608
        exclusion = SearchSpec(groups=[spec.excluded])  # any one excluded term rules it out
        params = [*base_params, fts5_match(exclusion), limit + 1, offset]
    else:
        # base_sql is Django's own SQL for the permission filters; values are parameters.
        sql = f"""
            SELECT m.id, snippet(messaging_message_fts, 0, %s, %s, ' … ', 24)
            FROM messaging_message_fts JOIN messaging_message m ON m.id = messaging_message_fts.rowid
            WHERE messaging_message_fts MATCH %s AND m.id IN ({base_sql})
            ORDER BY (-bm25(messaging_message_fts))
                     / (1 + (julianday('now') - julianday(m.created_at)) / %s) DESC, m.id DESC
            LIMIT %s OFFSET %s
        """  # noqa: S608  # nosec B608
        params = [HIGHLIGHT_START, HIGHLIGHT_STOP, fts5_match(spec), *base_params, RECENCY_DAYS,
                  limit + 1, offset]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    rows = [row[0] for row in fetched]
    snippets = {pk: snippet for pk, snippet in fetched if snippet}
    return rows, snippets
