"""The database objects behind message search, for the migration that creates them and
for a check after every migrate.

PostgreSQL: a tsvector column kept by a trigger from the text (English stemming), with a
GIN index; and a GIN index of the tsvector's word pairs (each lexeme with the next one),
which finds the few messages that can hold an exact phrase without reading every message
that holds its words (search._holding_phrase_pairs). SQLite (the embedded mode): an
external-content FTS5 table kept by triggers.
Either way every write path (bulk loads and edits included) is indexed. SQLite drops a
table's triggers when Django rebuilds that table in a later migration, so
`ensure_search_index` recreates whatever is missing after each migrate.
"""

from __future__ import annotations

from typing import Any

POSTGRES_CREATE = """
CREATE OR REPLACE FUNCTION messaging_message_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_vector := to_tsvector('english', coalesce(NEW.text, ''));
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS messaging_message_search_vector ON messaging_message;
CREATE TRIGGER messaging_message_search_vector
    BEFORE INSERT OR UPDATE OF text ON messaging_message
    FOR EACH ROW EXECUTE FUNCTION messaging_message_search_vector();
UPDATE messaging_message SET search_vector = to_tsvector('english', coalesce(text, ''));
CREATE INDEX IF NOT EXISTS messaging_message_search_gin
    ON messaging_message USING GIN (search_vector);
"""
# Each lexeme with the lexeme at the next occupied position and how far on that is (stop
# words hold a position but no lexeme: "deploy to prod" gives "deploy 2 prod"), no repeats.
POSTGRES_PAIRS_CREATE = """
CREATE OR REPLACE FUNCTION messaging_message_pairs(vector tsvector) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT pair), '{}') FROM (
        SELECT lexeme || ' ' || (lead(position) OVER next - position) || ' '
               || lead(lexeme) OVER next AS pair
        FROM unnest(vector) AS entry(lexeme, positions, weights), unnest(positions) AS position
        WINDOW next AS (ORDER BY position)
    ) pairs WHERE pair IS NOT NULL
$$
"""
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
"""
SQLITE_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS messaging_message_fts USING fts5(text, "
    "content='messaging_message', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')"
)
SQLITE_TRIGGERS = {
    "messaging_message_fts_insert":
        "AFTER INSERT ON messaging_message BEGIN "
        "INSERT INTO messaging_message_fts(rowid, text) VALUES (new.id, new.text); END",
    "messaging_message_fts_delete":
        "AFTER DELETE ON messaging_message BEGIN "
        "INSERT INTO messaging_message_fts(messaging_message_fts, rowid, text) "
        "VALUES ('delete', old.id, old.text); END",
    "messaging_message_fts_update":
        "AFTER UPDATE OF text ON messaging_message BEGIN "
        "INSERT INTO messaging_message_fts(messaging_message_fts, rowid, text) "
        "VALUES ('delete', old.id, old.text); "
        "INSERT INTO messaging_message_fts(rowid, text) VALUES (new.id, new.text); END",
}


def create_search_index(connection: Any) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES_CREATE)
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
        cursor.execute("INSERT INTO messaging_message_fts(messaging_message_fts) VALUES ('rebuild')")


def ensure_search_index(using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver: put back SQLite triggers a table rebuild removed."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor == "sqlite" and "messaging_message" in connection.introspection.table_names():
        with connection.cursor() as cursor:
            ensure_sqlite(cursor)
