"""The Activity view (issue 28): where each person has looked at it to, and an index of
each person's mentions newest first (built concurrently on PostgreSQL: the mention table
of a busy organisation is large, and a plain CREATE INDEX would block new messages)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


MENTION_INDEX = models.Index(fields=["user", "message"], name="messaging_mention_user_msg_idx")


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS messaging_mention_user_msg_idx "
                              "ON messaging_mention (user_id, message_id)")
    else:
        schema_editor.add_index(apps.get_model("messaging", "Mention"), MENTION_INDEX)


def drop_index(apps, schema_editor):
    schema_editor.remove_index(apps.get_model("messaging", "Mention"), MENTION_INDEX)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ('accounts', '0005_organisation_e2ee'),
        ('messaging', '0010_thread_follow'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ActivityState',
            fields=[
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('reactions_seen_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="mention", index=MENTION_INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
    ]
