"""The Activity view (issue 28): where each person has looked at it to; each reply's
thread starter and each reaction's message author, copied so that the view finds what
happened to a person by an index; and indexes of each person's mentions, of the replies
to their threads and of the reactions to their messages, newest first. The indexes are
built concurrently on PostgreSQL: these tables are large in a busy organisation, and a
plain CREATE INDEX would block new messages."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEXES = [
    ("Mention", models.Index(fields=["user", "message"], name="messaging_mention_user_msg_idx")),
    ("Message", models.Index(fields=["thread_root_author", "created_at"],
                             condition=models.Q(thread_root_author__isnull=False),
                             name="messaging_msg_replies_to_idx")),
    ("Reaction", models.Index(fields=["message_author", "created_at"],
                              name="messaging_reaction_to_idx")),
]

# Filled for what is already there (the bench seed runs these too).
BACKFILL = [
    """
    UPDATE messaging_message SET thread_root_author_id = (
        SELECT root.author_id FROM messaging_message root
        WHERE root.id = messaging_message.thread_root_id)
    WHERE thread_root_id IS NOT NULL
    """,
    """
    UPDATE messaging_reaction SET message_author_id = (
        SELECT message.author_id FROM messaging_message message
        WHERE message.id = messaging_reaction.message_id)
    """,
]


def create_indexes(apps, schema_editor):
    for model_name, index in INDEXES:
        model = apps.get_model("messaging", model_name)
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, index, concurrently=True)
        else:
            schema_editor.add_index(model, index)


def drop_indexes(apps, schema_editor):
    for model_name, index in INDEXES:
        schema_editor.remove_index(apps.get_model("messaging", model_name), index)


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
        migrations.AddField(
            model_name='message',
            name='thread_root_author',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='reaction',
            name='message_author',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name=name.lower(), index=index)
                              for name, index in INDEXES],
            database_operations=[migrations.RunPython(create_indexes, drop_indexes)],
        ),
    ]
