"""Each audit event gets its place in the chain (seq), numbered from 1 in id order for the
events already there. The append-only trigger is set aside for the numbering only, inside
this migration's transaction (the owner role runs migrations; docs/deploy.md)."""

from django.db import migrations, models

NUMBER_POSTGRES = """
ALTER TABLE compliance_auditevent DISABLE TRIGGER compliance_auditevent_append_only;
UPDATE compliance_auditevent AS e SET seq = n.seq
  FROM (SELECT id, row_number() OVER (ORDER BY id) AS seq FROM compliance_auditevent) AS n
 WHERE e.id = n.id;
ALTER TABLE compliance_auditevent ENABLE TRIGGER compliance_auditevent_append_only;
"""


def number_events(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NUMBER_POSTGRES, params=None)
        return
    event = apps.get_model("core", "AuditEvent")
    for seq, pk in enumerate(event.objects.order_by("id").values_list("id", flat=True), 1):
        event.objects.filter(pk=pk).update(seq=seq)


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_audit_event_from_compliance"),
        # The append-only trigger this migration sets aside while numbering.
        ("compliance", "0002_audit_append_only"),
    ]

    operations = [
        migrations.AddField(model_name="auditevent", name="seq",
                            field=models.BigIntegerField(null=True)),
        migrations.RunPython(number_events, migrations.RunPython.noop),
        migrations.AlterField(model_name="auditevent", name="seq",
                              field=models.BigIntegerField(unique=True)),
    ]
