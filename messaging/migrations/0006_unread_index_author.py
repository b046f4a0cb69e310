"""The unread-count index carries the author, for index-only counts. On PostgreSQL the new
index is built concurrently beside the old one and takes its name, so messages keep
arriving meanwhile; SQLite has no such columns and keeps the index it has."""

from django.conf import settings
from django.db import migrations, models

INDEX = "messaging_msg_unread_idx"
PREDICATE = "WHERE deleted_at IS NULL AND (thread_root_id IS NULL OR also_in_channel)"


def _rebuild(schema_editor, include: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}_new")  # a build cut short
        cursor.execute(f"CREATE INDEX CONCURRENTLY {INDEX}_new ON messaging_message "
                       f"(conversation_id, seq) {include} {PREDICATE}")
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        cursor.execute(f"ALTER INDEX {INDEX}_new RENAME TO {INDEX}")


def forwards(apps, schema_editor):
    _rebuild(schema_editor, "INCLUDE (author_id)")


def backwards(apps, schema_editor):
    _rebuild(schema_editor, "")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ('messaging', '0005_search_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.RemoveIndex(
                    model_name='message',
                    name='messaging_msg_unread_idx',
                ),
                migrations.AddIndex(
                    model_name='message',
                    index=models.Index(condition=models.Q(('deleted_at__isnull', True), models.Q(('thread_root__isnull', True), ('also_in_channel', True), _connector='OR')), fields=['conversation', 'seq'], include=('author',), name='messaging_msg_unread_idx'),
                ),
            ],
        ),
    ]
