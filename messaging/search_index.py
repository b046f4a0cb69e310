"""The database objects behind message search, for the migration that creates them and
for a check after every migrate.

PostgreSQL: a tsvector column kept by a trigger from the text (English stemming), with a
GIN index; and a GIN index of the tsvector's word pairs (each lexeme with the next one),
which finds the few messages that can hold an exact phrase without reading every message
that holds its words (search._holding_phrase_pairs). SQLite (the embedded mode): an
FTS5 table kept by triggers.
Either way every write path (bulk loads and edits included) is indexed. SQLite drops a
table's triggers when Django rebuilds that table in a later migration, so
`ensure_search_index` recreates whatever is missing after each migrate.

Chinese, Japanese and Korean runs (messaging/search_cjk.py) are indexed as character
bigrams and unigrams besides: on PostgreSQL as extra lexemes appended to the tsvector
(the words are taken from the text with those runs made spaces), in the embedded mode in
a second FTS5 column, `cjk`, filled by a Python function the triggers call
(messaging_cjk_terms, registered on every SQLite connection by
`register_sqlite_functions`). The FTS5 table holds its own copy of the text for that:
an external-content table would read a `cjk` column the message table does not have.
"""

from __future__ import annotations

from typing import Any

from messaging.search_cjk import CJK_CLASS, index_terms

# A message's tsvector: English words of the text with its CJK runs made spaces (so
# Q3 in Q3の売上 is a word), then each run's unigrams and bigrams, the bigram starting at
# a character sharing its position (a query's bigrams side by side are then a substring;
# one position between runs keeps two runs apart). `||` puts them after the words.
# CJK_CLASS is a constant of escapes (search_cjk), no outside text.
POSTGRES_DOCUMENT = f"""
CREATE OR REPLACE FUNCTION messaging_cjk_tsvector(body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(quote_literal(gram) || ':' || position, ' '), '')::tsvector
    FROM (
        SELECT found.m[1] AS run,
               sum(length(found.m[1]) + 1) OVER (ORDER BY found.n) - length(found.m[1]) AS base
        FROM regexp_matches(body, '[{CJK_CLASS}]+', 'g') WITH ORDINALITY AS found(m, n)
    ) runs,
    LATERAL (
        SELECT substr(run, i, 1) AS gram, base + i - 1 AS position
        FROM generate_series(1, length(run)) AS i
        UNION ALL
        SELECT substr(run, i, 2), base + i - 1 FROM generate_series(1, length(run) - 1) AS i
    ) grams
$$;
CREATE OR REPLACE FUNCTION messaging_message_search_document(body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('english', regexp_replace(coalesce(body, ''), '[{CJK_CLASS}]+', ' ', 'g'))
           || messaging_cjk_tsvector(coalesce(body, ''))
$$;
"""  # noqa: S608  # nosec B608

POSTGRES_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION messaging_message_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_vector := messaging_message_search_document(NEW.text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""
POSTGRES_TRIGGER = """
DROP TRIGGER IF EXISTS messaging_message_search_vector ON messaging_message;
CREATE TRIGGER messaging_message_search_vector
    BEFORE INSERT OR UPDATE OF text ON messaging_message
    FOR EACH ROW EXECUTE FUNCTION messaging_message_search_vector();
"""
POSTGRES_INDEX = """
UPDATE messaging_message SET search_vector = messaging_message_search_document(text);
CREATE INDEX IF NOT EXISTS messaging_message_search_gin
    ON messaging_message USING GIN (search_vector);
"""
# Each lexeme with the lexeme at the next occupied position and how far on that is (stop
# words hold a position but no lexeme: "deploy to prod" gives "deploy 2 prod"), no repeats.
# CJK unigrams and bigrams are left out: they come after the words, and their pairs
# would only swell the index (a CJK phrase is found by its bigrams).
POSTGRES_PAIRS_CREATE = f"""
CREATE OR REPLACE FUNCTION messaging_message_pairs(vector tsvector) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT pair), '{{}}') FROM (
        SELECT lexeme || ' ' || (lead(position) OVER next - position) || ' '
               || lead(lexeme) OVER next AS pair
        FROM unnest(vector) AS entry(lexeme, positions, weights), unnest(positions) AS position
        WHERE lexeme !~ '[{CJK_CLASS}]'
        WINDOW next AS (ORDER BY position)
    ) pairs WHERE pair IS NOT NULL
$$
"""  # noqa: S608  # nosec B608
# CONCURRENTLY: an existing table keeps taking messages while the index is built (about
# 40 s for a million messages on a small machine); its migration is not atomic for that.
POSTGRES_PAIRS_INDEX = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS messaging_message_pairs_gin
    ON messaging_message USING GIN (messaging_message_pairs(search_vector))
"""
POSTGRES_PAIRS_DROP = (
    "DROP INDEX CONCURRENTLY IF EXISTS messaging_message_pairs_gin",
    "DROP FUNCTION IF EXISTS messaging_message_pairs(tsvector)",
)
POSTGRES_DROP = """
DROP INDEX IF EXISTS messaging_message_search_gin;
DROP TRIGGER IF EXISTS messaging_message_search_vector ON messaging_message;
DROP FUNCTION IF EXISTS messaging_message_search_vector();
DROP FUNCTION IF EXISTS messaging_message_search_document(text);
DROP FUNCTION IF EXISTS messaging_cjk_tsvector(text);
"""
SQLITE_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS messaging_message_fts USING fts5(text, cjk, "
    "tokenize='porter unicode61 remove_diacritics 2')"
)
_SQLITE_ADD = ("INSERT INTO messaging_message_fts(rowid, text, cjk) "
               "VALUES (new.id, new.text, messaging_cjk_terms(new.text));")
SQLITE_TRIGGERS = {
    "messaging_message_fts_insert": f"AFTER INSERT ON messaging_message BEGIN {_SQLITE_ADD} END",
    "messaging_message_fts_delete":
        "AFTER DELETE ON messaging_message BEGIN "
        "DELETE FROM messaging_message_fts WHERE rowid = old.id; END",
    "messaging_message_fts_update":
        "AFTER UPDATE OF text ON messaging_message BEGIN "  # noqa: S608  # nosec B608
        f"DELETE FROM messaging_message_fts WHERE rowid = old.id; {_SQLITE_ADD} END",
}
SQLITE_REBUILD = (
    "DELETE FROM messaging_message_fts",
    "INSERT INTO messaging_message_fts(rowid, text, cjk) "
    "SELECT id, text, messaging_cjk_terms(text) FROM messaging_message",
)


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    """connection_created receiver: the function the FTS5 triggers call, on every SQLite
    connection (a write through one without it fails: "no such function")."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("messaging_cjk_terms", 1, index_terms,
                                              deterministic=True)


def create_search_index(connection: Any) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for statements in (POSTGRES_DOCUMENT, POSTGRES_TRIGGER_FUNCTION, POSTGRES_TRIGGER,
                               POSTGRES_INDEX):
                cursor.execute(statements)
        elif connection.vendor == "sqlite":
            ensure_sqlite(cursor)


def create_pairs_index(connection: Any) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(POSTGRES_PAIRS_CREATE)
            # A concurrent build cut short leaves an invalid index that IF NOT EXISTS would
            # keep: drop it and build again.
            cursor.execute("SELECT NOT indisvalid FROM pg_index "
                           "WHERE indexrelid = to_regclass('messaging_message_pairs_gin')")
            row = cursor.fetchone()
            if row and row[0]:
                cursor.execute(POSTGRES_PAIRS_DROP[0])
            cursor.execute(POSTGRES_PAIRS_INDEX)


def drop_pairs_index(connection: Any) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for statement in POSTGRES_PAIRS_DROP:
                cursor.execute(statement)


def drop_search_index(connection: Any) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES_DROP)
        elif connection.vendor == "sqlite":
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute("DROP TABLE IF EXISTS messaging_message_fts")


def ensure_sqlite(cursor: Any) -> None:
    cursor.execute(SQLITE_TABLE)
    existing = {row[0] for row in cursor.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()}
    missing = [name for name in SQLITE_TRIGGERS if name not in existing]
    for name in missing:
        cursor.execute(f"CREATE TRIGGER {name} {SQLITE_TRIGGERS[name]}")
    if missing:
        # Writes made while a trigger was missing are not indexed: start over.
        for statement in SQLITE_REBUILD:
            cursor.execute(statement)


def ensure_search_index(using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver: put back SQLite triggers a table rebuild removed."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor == "sqlite" and "messaging_message" in connection.introspection.table_names():
        with connection.cursor() as cursor:
            ensure_sqlite(cursor)
