"""Full-text search of messages (see messaging/search_index.py)."""

import django.contrib.postgres.search
from django.db import migrations


def create_index(apps, schema_editor):
    from messaging.search_index import create_search_index

    create_search_index(schema_editor.connection)


def drop_index(apps, schema_editor):
    from messaging.search_index import drop_search_index

    drop_search_index(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='message',
            name='search_vector',
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunPython(create_index, drop_index),
    ]
