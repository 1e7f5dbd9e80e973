"""Drop four single-column foreign-key indexes that each lead a composite index, on the tables
written at fleet rate: a target is rewritten on every report (and 10,000 at a time by a halt or
the picker) with every index it has, and a report or a webhook delivery is inserted into each.

The models say ``db_index=False``; Django's own AlterField would also drop and re-add (and so
re-validate) the foreign keys, so the database side only drops the indexes, by the names Django
gave them on both databases."""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = [
    ("releases_deploymentreport_target_id_65f1549f", "releases_deploymentreport", "target_id"),
    ("releases_releasetarget_ci_id_14fe85af", "releases_releasetarget", "ci_id"),
    ("releases_releasetarget_release_id_6afca96f", "releases_releasetarget", "release_id"),
    ("releases_webhookdelivery_source_id_adcb0335", "releases_webhookdelivery", "source_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("cmdb", "0004_search_trigram_indexes"),
        ("releases", "0012_search_trigram_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="deploymentreport",
                    name="target",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reports",
                        to="releases.releasetarget",
                    ),
                ),
                migrations.AlterField(
                    model_name="releasetarget",
                    name="ci",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="release_targets",
                        to="cmdb.configurationitem",
                    ),
                ),
                migrations.AlterField(
                    model_name="releasetarget",
                    name="release",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="targets",
                        to="releases.release",
                    ),
                ),
                migrations.AlterField(
                    model_name="webhookdelivery",
                    name="source",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="deliveries",
                        to="releases.webhooksource",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")',
                )
                for name, table, column in INDEXES
            ],
        ),
    ]
