"""Threads people follow (issue 28). Existing threads are followed by whoever started or
replied in them, read to their newest reply (nothing old turns up as unread)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


# Repliers, then starters; a pair already there (a starter who replied) is kept.
FOLLOW_EXISTING = [
    """
    INSERT INTO messaging_threadfollow
        (user_id, root_id, conversation_id, following, last_read_reply_id, updated_at,
         last_activity_at, last_other_reply_id)
    SELECT author_id, thread_root_id, conversation_id, true, MAX(id), CURRENT_TIMESTAMP,
           CURRENT_TIMESTAMP, 0
    FROM messaging_message WHERE thread_root_id IS NOT NULL
    GROUP BY author_id, thread_root_id, conversation_id
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO messaging_threadfollow
        (user_id, root_id, conversation_id, following, last_read_reply_id, updated_at,
         last_activity_at, last_other_reply_id)
    SELECT root.author_id, root.id, root.conversation_id, true, MAX(reply.id), CURRENT_TIMESTAMP,
           CURRENT_TIMESTAMP, 0
    FROM messaging_message root JOIN messaging_message reply ON reply.thread_root_id = root.id
    GROUP BY root.author_id, root.id, root.conversation_id
    ON CONFLICT DO NOTHING
    """,
    # Each thread read to its newest reply; its newest activity, and its newest live reply
    # by someone else.
    """
    UPDATE messaging_threadfollow SET last_read_reply_id = (
        SELECT MAX(reply.id) FROM messaging_message reply
        WHERE reply.thread_root_id = messaging_threadfollow.root_id)
    """,
    """
    UPDATE messaging_threadfollow SET last_activity_at = (
        SELECT COALESCE(root.last_reply_at, root.created_at) FROM messaging_message root
        WHERE root.id = messaging_threadfollow.root_id)
    """,
    """
    UPDATE messaging_threadfollow SET last_other_reply_id = COALESCE((
        SELECT MAX(reply.id) FROM messaging_message reply
        WHERE reply.thread_root_id = messaging_threadfollow.root_id
        AND reply.author_id <> messaging_threadfollow.user_id AND reply.deleted_at IS NULL), 0)
    """,
]


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0009_saved_done'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ThreadFollow',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('following', models.BooleanField(default=True)),
                ('last_read_reply_id', models.BigIntegerField(default=0)),
                ('last_activity_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('last_other_reply_id', models.BigIntegerField(default=0)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='messaging.conversation')),
                ('root', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='messaging.message')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['root', 'following'], name='messaging_follow_root_idx'),
                            models.Index(condition=models.Q(('following', True)),
                                         fields=['user', '-last_activity_at'],
                                         name='messaging_follow_view_idx')],
                'constraints': [models.UniqueConstraint(fields=('user', 'root'), name='messaging_threadfollow_unique')],
            },
        ),
        migrations.RunSQL(FOLLOW_EXISTING, reverse_sql=migrations.RunSQL.noop),
    ]
