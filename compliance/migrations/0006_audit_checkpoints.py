"""Signed checkpoints of the audit chain and the key that signs them, both append-only
like the log; and on PostgreSQL every statement-level TRUNCATE of the three tables refused.

A superuser (or the tables' owner) can still disable the triggers: the checkpoint kept
outside the database is what reveals it (docs/compliance.md). The test suite empties
tables with session_replication_role = replica, which only a superuser may set.
"""

import django.utils.timezone
from django.db import migrations, models

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION compliance_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER compliance_auditcheckpoint_append_only
    BEFORE UPDATE OR DELETE ON compliance_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION compliance_append_only();
CREATE TRIGGER compliance_auditsigningkey_append_only
    BEFORE UPDATE OR DELETE ON compliance_auditsigningkey
    FOR EACH ROW EXECUTE FUNCTION compliance_append_only();
CREATE TRIGGER compliance_auditevent_no_truncate
    BEFORE TRUNCATE ON compliance_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION compliance_auditevent_append_only();
CREATE TRIGGER compliance_auditcheckpoint_no_truncate
    BEFORE TRUNCATE ON compliance_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION compliance_append_only();
CREATE TRIGGER compliance_auditsigningkey_no_truncate
    BEFORE TRUNCATE ON compliance_auditsigningkey
    FOR EACH STATEMENT EXECUTE FUNCTION compliance_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS compliance_auditevent_no_truncate ON compliance_auditevent;
DROP TRIGGER IF EXISTS compliance_auditcheckpoint_no_truncate ON compliance_auditcheckpoint;
DROP TRIGGER IF EXISTS compliance_auditsigningkey_no_truncate ON compliance_auditsigningkey;
DROP TRIGGER IF EXISTS compliance_auditcheckpoint_append_only ON compliance_auditcheckpoint;
DROP TRIGGER IF EXISTS compliance_auditsigningkey_append_only ON compliance_auditsigningkey;
DROP FUNCTION IF EXISTS compliance_append_only();
"""


def create_triggers(apps, schema_editor):
    # SQLite has no TRUNCATE and no such triggers: whoever holds the file can change it,
    # so there the checkpoint file is the only protection (docs/compliance.md).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)



class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0005_audit_verification_export_stage'),
        ('core', '0002_auditevent_seq'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditCheckpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('seq', models.BigIntegerField(unique=True)),
                ('event_id', models.BigIntegerField()),
                ('head_hash', models.CharField(max_length=64)),
                ('count', models.BigIntegerField()),
                ('key_fingerprint', models.CharField(max_length=64)),
                ('signature', models.CharField(max_length=128)),
            ],
            options={
                'ordering': ['-seq'],
            },
        ),
        migrations.CreateModel(
            name='AuditSigningKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('public_key', models.CharField(max_length=64)),
                ('fingerprint', models.CharField(max_length=64, unique=True)),
                ('private_key_encrypted', models.TextField()),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
