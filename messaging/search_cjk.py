"""Search in scripts written without spaces between words: Chinese, Japanese (kanji and
kana) and Korean. A run of such characters is indexed as its character bigrams (each
character with the next) and unigrams, beside the word index, so that any substring of
one or more characters is found: a query run of one character matches a unigram; a
longer one matches its bigrams side by side (東京都: 東京 then 京都).

PostgreSQL builds the same tokens in SQL (search_index.POSTGRES_CJK), the embedded mode
in Python (`index_terms`, which the SQLite triggers call); the query side is here. The
character class is written with escapes that both Python's `re` and PostgreSQL's regular
expressions read.
"""

from __future__ import annotations

import re

# Han (with its radicals, extensions and compatibility ideographs, 々 and 〆), kana (and
# halfwidth katakana, and ー, but not the middle dot ・, which is punctuation), Bopomofo,
# and Hangul (syllables and jamo). CJK punctuation (、。「」) and fullwidth Latin are not
# in it: they separate runs.
CJK_CLASS = (
    r"\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u303b"
    r"\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u3105-\u312f\u3131-\u318e"
    r"\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af"
    r"\ud7b0-\ud7ff\uf900-\ufaff\uff66-\uff9f\uffa0-\uffdc\U00020000-\U0003134f"
)
_RUN = re.compile(f"[{CJK_CLASS}]+")
# A word as the word tokenizers see it: CJK characters are letters to them, so a Latin
# part written against CJK text (Q3の売上) is not a word of its own there.
_WORD = re.compile(r"\w+")
_LATIN_PIECE = re.compile(r"[^\W_]+")


def has_cjk(text: str) -> bool:
    return _RUN.search(text) is not None


def runs(text: str) -> list[str]:
    return _RUN.findall(text)


def bigrams(run: str) -> list[str]:
    """A run's bigrams in order; a one-character run is its own (unigram) token."""
    if len(run) == 1:
        return [run]
    return [run[i: i + 2] for i in range(len(run) - 1)]


def index_terms(text: str | None) -> str:
    """What the embedded mode's FTS5 `cjk` column holds for a message: for each run, its
    bigrams side by side (so a phrase of them is a substring), then its unigrams (which
    keep the next run's bigrams from being side by side with this run's); then the Latin
    parts of words that mix scripts (Q3 of Q3の売上), which the word column cannot find.
    Empty for a text with no CJK character. The SQLite triggers call this (registered on
    every connection as messaging_cjk_terms): it must stay deterministic."""
    if not text or not has_cjk(text):
        return ""
    tokens: list[str] = []
    for run in runs(text):
        if len(run) > 1:
            tokens.extend(bigrams(run))
        tokens.extend(run)
    for word in _WORD.findall(text):
        if has_cjk(word):
            tokens.extend(_LATIN_PIECE.findall(_RUN.sub(" ", word)))
    return " ".join(tokens)


def split_term(text: str) -> tuple[str, list[str]]:
    """A search term's Latin part (the text with each CJK run made a space) and its runs."""
    return " ".join(_RUN.sub(" ", text).split()), runs(text)


def tsquery_literal(cjk_runs: list[str]) -> str:
    """The runs as a PostgreSQL tsquery: each run's bigrams side by side, runs all required.
    Only CJK characters reach it, so no quoting beyond the lexemes' own is needed."""
    def run_query(run: str) -> str:
        return " <-> ".join(f"'{gram}'" for gram in bigrams(run))

    return " & ".join(f"({run_query(run)})" for run in cjk_runs)


def fts5_phrases(cjk_runs: list[str]) -> str:
    """The runs as an FTS5 expression on the `cjk` column, runs all required."""
    return " AND ".join(f'cjk : "{" ".join(bigrams(run))}"' for run in cjk_runs)


def marks(terms: list[str]) -> list[str]:
    """What to mark in a result for the CJK-bearing terms searched for: each word of the
    term that holds CJK characters as written (Q3の売上), each run (の売上) and each Latin
    part (q3); lower-case, each once, longest first."""
    found: dict[str, None] = {}
    for term in terms:
        for word in term.split():
            if has_cjk(word):
                found.setdefault(word.lower(), None)
                for run in runs(word):
                    found.setdefault(run, None)
                for piece in _LATIN_PIECE.findall(_RUN.sub(" ", word)):
                    found.setdefault(piece.lower(), None)
    return sorted(found, key=len, reverse=True)


def marks_pattern(wanted: list[str]) -> re.Pattern[str]:
    """Any of `wanted`, the longest first; a Latin part only where no Latin letter or digit
    touches it (q3 in Q3の売上, not in q30)."""
    def one(word: str) -> str:
        if has_cjk(word):
            return re.escape(word)
        return rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])"

    return re.compile("|".join(one(word) for word in wanted), re.IGNORECASE)


def highlight(text: str, raw_snippet: str, wanted: list[str], start: str, stop: str,
              width: int = 200) -> str:
    """A snippet with every occurrence of `wanted` between `start` and `stop`: the
    database's snippet (whose own marks are kept) when it holds one, else the passage of
    `text` around the first occurrence, at most `width` characters. The word indexes do
    not see CJK substrings, so their snippets mark none and may stop before the first."""
    pattern = marks_pattern(wanted)
    plain = raw_snippet.replace(start, "").replace(stop, "") if raw_snippet else ""
    if raw_snippet and pattern.search(plain):
        base = raw_snippet
    else:
        flat = " ".join(text.split())
        first = pattern.search(flat)
        begin = max(0, (first.start() if first else 0) - width // 4)
        end = min(len(flat), begin + width)
        base = ("…" if begin else "") + flat[begin:end] + ("…" if end < len(flat) else "")
    already = re.compile(f"({re.escape(start)}.*?{re.escape(stop)})", re.DOTALL)
    return "".join(
        part if part.startswith(start) else pattern.sub(lambda m: start + m.group(0) + stop, part)
        for part in already.split(base))
