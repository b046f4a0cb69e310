"""The message search syntax people know from Slack:

    words "exact phrases" one OR other -excluded
    in:#channel in:@person from:@person has:file has:link is:thread
    before:2026-05-01 after:2026-04-01 during:2026-04 (or a day, or a year)

A person is named by email, by "@" and the part of their email before the "@", or by
display name: quoted (from:"Ana Lopez") or bare (from:Ana Lopez). A bare name may run on
over the plain words after it; the parser keeps those words both as search words and as
the name's possible tail, and search._resolve_name_tails settles it against the directory
(the longest run that is someone's display name is the name; the rest stay words).

Parsing turns the text into a SearchSpec, or raises InvalidInput naming the problem.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from core.errors import InvalidInput
from messaging import search_cjk

MAX_QUERY_LENGTH = 500
MAX_TERMS = 24
MAX_NAME_WORDS = 4  # how many words after a bare from:/in: name may continue it
FILTERS = ("in", "from", "has", "is", "before", "after", "during")
_TOKEN = re.compile(r'-?[a-z]+:"[^"]*"|-?"[^"]*"|\S+', re.IGNORECASE)


@dataclass(frozen=True)
class Term:
    text: str
    phrase: bool = False

    @property
    def words(self) -> str:
        """The text with no double quote left in it, as PostgreSQL is given it."""
        return self.text.replace('"', " ")


@dataclass
class SearchSpec:
    # Every group must match; a group matches when any of its terms does.
    groups: list[list[Term]] = field(default_factory=list)
    excluded: list[Term] = field(default_factory=list)
    # "#channel", "@person", or "?name" (a bare in:name: the channel, else the person)
    in_places: list[str] = field(default_factory=list)
    from_people: list[str] = field(default_factory=list)
    # ("from" | "in", index in from_people | in_places) -> the plain words that followed a
    # bare name and may continue it (from:Ana Lopez); each is also a group of its own.
    name_tails: dict[tuple[str, int], list[Term]] = field(default_factory=dict)
    has: set[str] = field(default_factory=set)
    is_thread: bool = False
    after: date | None = None    # on or after this day
    before: date | None = None   # strictly before this day

    @property
    def has_terms(self) -> bool:
        return bool(self.groups)


def _fail(problem: str) -> InvalidInput:
    return InvalidInput.for_field("q", problem, code="bad_query")


def _parse_date(name: str, value: str) -> tuple[date, date]:
    """The first day a value covers and the day after its last (YYYY, YYYY-MM, YYYY-MM-DD)."""
    try:
        parts = [int(p) for p in value.split("-")]
        if len(parts) == 3:
            first = date(*parts)
            return first, date.fromordinal(first.toordinal() + 1)
        if len(parts) == 2:
            first = date(parts[0], parts[1], 1)
            following = date(parts[0] + (parts[1] == 12), parts[1] % 12 + 1, 1)
            return first, following
        if len(parts) == 1 and len(value) == 4:
            return date(parts[0], 1, 1), date(parts[0] + 1, 1, 1)
    except ValueError:
        pass
    raise _fail(f"{name}:{value} is not a date; use YYYY-MM-DD (or YYYY-MM, or YYYY).")


def _filter(spec: SearchSpec, name: str, value: str) -> tuple[str, int] | None:
    """Apply one filter; for a bare name that later words may continue, where it is kept."""
    quoted = value.startswith('"')
    value = " ".join(value.strip('"').split())
    if not value:
        raise _fail(f"{name}: needs a value, like {name}:{_EXAMPLES[name]}.")
    bare = not quoted and value[0] not in "#@" and "@" not in value
    if name == "in":
        if value[0] not in "#@":
            value = "?" + value
        spec.in_places.append(value.lower())
        return ("in", len(spec.in_places) - 1) if bare else None
    elif name == "from":
        spec.from_people.append(value.lstrip("@").lower())
        return ("from", len(spec.from_people) - 1) if bare else None
    elif name == "has":
        if value.lower() not in ("file", "link"):
            raise _fail(f"has:{value} is not something we search for; use has:file or has:link.")
        spec.has.add(value.lower())
    elif name == "is":
        if value.lower() != "thread":
            raise _fail(f"is:{value} is not something we search for; use is:thread.")
        spec.is_thread = True
    elif name == "before":
        first, _ = _parse_date(name, value)
        spec.before = min(first, spec.before) if spec.before else first
    elif name == "after":
        _, following = _parse_date(name, value)
        spec.after = max(following, spec.after) if spec.after else following
    elif name == "during":
        first, following = _parse_date(name, value)
        spec.after = max(first, spec.after) if spec.after else first
        spec.before = min(following, spec.before) if spec.before else following
    return None


_EXAMPLES = {"in": "#general", "from": "@ana", "has": "file", "is": "thread",
             "before": "2026-05-01", "after": "2026-04-01", "during": "2026-04"}


def parse(query: str) -> SearchSpec:
    query = (query or "").strip()
    if not query:
        raise _fail("Type something to search for.")
    if len(query) > MAX_QUERY_LENGTH:
        raise _fail(f"A search may be at most {MAX_QUERY_LENGTH} characters.")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in query):
        raise _fail("The search contains control characters, which cannot be searched for.")
    if query.count('"') % 2:
        raise _fail('A quote is not closed: put a " at the end of the phrase.')
    spec = SearchSpec()
    pending_or = False
    tail: list[Term] | None = None  # the words that may continue the last bare name
    for token in _TOKEN.findall(query):
        negative = token.startswith("-") and len(token) > 1
        body = token[1:] if negative else token
        name, _, value = body.partition(":")
        if not body.startswith('"') and name.lower() in FILTERS and _:
            if negative:
                raise _fail(f"-{name}: cannot be negated.")
            kept = _filter(spec, name.lower(), value)
            tail = spec.name_tails.setdefault(kept, []) if kept else None
            continue
        # "OR" is the search operator; the scanners take the comparison for a password.
        if token == "OR":  # noqa: S105  # nosec B105
            if not spec.groups or pending_or:
                raise _fail("OR needs a word on each side, like: launch OR release.")
            if tail:
                tail.pop()  # that word is now one side of an OR, not part of a name
            tail = None
            pending_or = True
            continue
        phrase = body.startswith('"')
        text = body.strip('"').strip()
        if not text:
            if phrase:
                raise _fail('An empty phrase ("") searches for nothing.')
            continue
        term = Term(text, phrase=phrase)
        if negative:
            if pending_or:
                raise _fail("OR cannot join an excluded word.")
            spec.excluded.append(term)
        elif pending_or:
            spec.groups[-1].append(term)
            pending_or = False
        else:
            spec.groups.append([term])
            if tail is not None and not phrase and len(tail) < MAX_NAME_WORDS:
                tail.append(term)
                continue
        tail = None
    if pending_or:
        raise _fail("OR needs a word on each side, like: launch OR release.")
    if sum(len(g) for g in spec.groups) + len(spec.excluded) > MAX_TERMS:
        raise _fail(f"Use at most {MAX_TERMS} words and phrases.")
    if spec.excluded and not spec.groups and not _has_filters(spec):
        raise _fail("Say what to look for, not only what to leave out.")
    if not spec.groups and not _has_filters(spec):
        raise _fail("Type something to search for.")
    if spec.after and spec.before and spec.after >= spec.before:
        raise _fail("The dates leave no day to search: 'after' must come before 'before'.")
    return spec


def _has_filters(spec: SearchSpec) -> bool:
    return bool(spec.in_places or spec.from_people or spec.has or spec.is_thread
                or spec.after or spec.before)


def websearch_text(spec: SearchSpec) -> str:
    """The terms in PostgreSQL's websearch_to_tsquery syntax."""
    def quote(term: Term) -> str:
        return f'"{term.words}"' if term.phrase else term.words

    parts = [" OR ".join(quote(t) for t in group) for group in spec.groups]
    parts += [f"-{quote(t)}" for t in spec.excluded]
    return " ".join(parts)


def fts5_match(spec: SearchSpec) -> str:
    """The terms as an SQLite FTS5 MATCH expression; every term is a quoted string, so no
    text a person types is read as FTS5 syntax."""
    def quote(term: Term) -> str:
        if not search_cjk.has_cjk(term.text):
            return '"' + term.text.replace('"', '""') + '"'
        # Its Latin part as a phrase anywhere, its CJK runs as bigrams side by side in the
        # `cjk` column (messaging/search_index.py); both required.
        latin, cjk_runs = search_cjk.split_term(term.words)
        parts = ['"' + latin + '"'] if any(ch.isalnum() for ch in latin) else []
        return "(" + " AND ".join([*parts, search_cjk.fts5_phrases(cjk_runs)]) + ")"

    groups = ["(" + " OR ".join(quote(t) for t in group) + ")" for group in spec.groups]
    expression = " AND ".join(groups)
    if spec.excluded:
        expression += " NOT (" + " OR ".join(quote(t) for t in spec.excluded) + ")"
    return expression
