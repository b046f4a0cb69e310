"""Chinese, Japanese and Korean found by any substring (messaging/search_cjk.py,
messaging/search_index.py): the index gains each CJK run's character bigrams and
unigrams, and the messages already written in those scripts are indexed again.

PostgreSQL, workable on a large table: the functions are replaced first (CREATE OR
REPLACE: the trigger stays, and no lock is taken on the table), so messages sent or
edited from then on are indexed the new way; then only the messages holding a CJK
character are indexed again, BATCH ids at a time, each batch its own short transaction
(the migration is not atomic): the table keeps taking messages, no row is locked for
longer than its batch, and an interrupted run is simply run again (every update is
idempotent). No index is rebuilt: the GIN index of search_vector and the word-pair index
take the changed rows as they take any update. Messages without a CJK character keep
their tsvector, which is the same either way, and their word pairs, which the new pairs
function (leaving CJK lexemes out) gives as before, so the pairs index stays consistent
without a rebuild. At this batch size: 9.4 s for 100,000 messages with a fifth in CJK on
a small, busy machine, about 95 s per million (bench/analysis.md, "CJK search").

SQLite (the embedded mode's sizes): the FTS5 table is made again with its `cjk` column
and filled in one statement.

Backwards, the earlier definitions (kept here as they were) are put back and the CJK
messages indexed again the earlier way.
"""

from django.db import migrations

BATCH = 5000

OLD_POSTGRES_TRIGGER = """
CREATE OR REPLACE FUNCTION messaging_message_search_vector() RETURNS trigger AS $$
BEGIN
    NEW.search_vector := to_tsvector('english', coalesce(NEW.text, ''));
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""
OLD_POSTGRES_PAIRS = """
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
OLD_SQLITE_TABLE = (
    "CREATE VIRTUAL TABLE messaging_message_fts USING fts5(text, "
    "content='messaging_message', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')"
)
OLD_SQLITE_TRIGGERS = {
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


def _reindex_cjk_messages(cursor, document_sql):
    from messaging.search_cjk import CJK_CLASS

    cursor.execute("SELECT min(id), max(id) FROM messaging_message")
    low, high = cursor.fetchone()
    if low is None:
        return
    # document_sql is one of this module's constants; the values are parameters.
    update = (f"UPDATE messaging_message SET search_vector = {document_sql} "  # noqa: S608  # nosec B608
              "WHERE id >= %s AND id < %s AND text ~ %s")
    for start in range(low, high + 1, BATCH):
        cursor.execute(update, [start, start + BATCH, f"[{CJK_CLASS}]"])


def _sqlite_remake(cursor, table, triggers, rebuild):
    for name in triggers:
        cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
    cursor.execute("DROP TABLE IF EXISTS messaging_message_fts")
    cursor.execute(table)
    for name, body in triggers.items():
        cursor.execute(f"CREATE TRIGGER {name} {body}")
    for statement in rebuild:
        cursor.execute(statement)


def forwards(apps, schema_editor):
    from messaging import search_index

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(search_index.POSTGRES_DOCUMENT)
            # The trigger stays; the function it calls is replaced (no lock on the table).
            cursor.execute(search_index.POSTGRES_TRIGGER_FUNCTION)
            cursor.execute(search_index.POSTGRES_PAIRS_CREATE)
            _reindex_cjk_messages(cursor, "messaging_message_search_document(text)")
        elif connection.vendor == "sqlite":
            _sqlite_remake(cursor, search_index.SQLITE_TABLE, search_index.SQLITE_TRIGGERS,
                           search_index.SQLITE_REBUILD)


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(OLD_POSTGRES_TRIGGER)
            cursor.execute(OLD_POSTGRES_PAIRS)
            _reindex_cjk_messages(cursor, "to_tsvector('english', coalesce(text, ''))")
            cursor.execute("DROP FUNCTION IF EXISTS messaging_message_search_document(text)")
            cursor.execute("DROP FUNCTION IF EXISTS messaging_cjk_tsvector(text)")
        elif connection.vendor == "sqlite":
            _sqlite_remake(cursor, OLD_SQLITE_TABLE, OLD_SQLITE_TRIGGERS,
                           ["INSERT INTO messaging_message_fts(messaging_message_fts) VALUES ('rebuild')"])


class Migration(migrations.Migration):
    atomic = False  # one short transaction per batch (see above)

    dependencies = [
        ('messaging', '0014_push_subscriptions'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
