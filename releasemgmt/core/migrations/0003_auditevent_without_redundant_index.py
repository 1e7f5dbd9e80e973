"""Drop the audit log's single-column content-type index: it leads the (content type, object id,
time) index, and every audited write inserts a row with every index the table has.

The model says ``db_index=False``; Django's own AlterField would also drop and re-add (and so
re-validate) the foreign key, so the database side only drops the index, by the name Django gave
it on both databases."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "core_auditevent_content_type_id_1d8b5390"


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0002_remove_scheduled_jobs"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="content_type",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to="contenttypes.contenttype",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=(
                        f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "core_auditevent" ("content_type_id")'
                    ),
                ),
            ],
        ),
    ]
