"""The word-pair index behind exact-phrase search (see messaging/search_index.py)."""

from django.db import migrations


def create_index(apps, schema_editor):
    from messaging.search_index import create_pairs_index

    create_pairs_index(schema_editor.connection)


def drop_index(apps, schema_editor):
    from messaging.search_index import drop_pairs_index

    drop_pairs_index(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ('messaging', '0006_unread_index_author'),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index),
    ]
