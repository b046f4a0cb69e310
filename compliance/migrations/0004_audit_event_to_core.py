"""The audit log's model state moves to core (core/migrations/0001); the table stays."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("compliance", "0003_retention_holds_exports"),
        ("core", "0001_audit_event_from_compliance"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent")],
            database_operations=[],
        ),
    ]
