"""Default channels (issue 34): new people join them when they arrive. An organisation's
#general, where there is one, becomes the first."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0012_scheduled_reminders'),
    ]

    operations = [
        migrations.AddField(
            model_name='conversation',
            name='is_default',
            field=models.BooleanField(default=False),
        ),
        migrations.RunSQL(
            "UPDATE messaging_conversation SET is_default = true "
            "WHERE kind = 'public' AND name = 'general' AND archived_at IS NULL",
            reverse_sql=migrations.RunSQL.noop),
    ]
