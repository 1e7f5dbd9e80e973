from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce


def count_existing_targets(apps, schema_editor):
    Release = apps.get_model("releases", "Release")
    ReleaseTarget = apps.get_model("releases", "ReleaseTarget")
    counts = (
        ReleaseTarget.objects.filter(release=OuterRef("pk"))
        .order_by()
        .values("release")
        .annotate(n=Count("pk"))
        .values("n")
    )
    Release.objects.update(count_targets=Coalesce(Subquery(counts), 0))


class Migration(migrations.Migration):
    dependencies = [("releases", "0005_callbacks")]

    operations = [
        migrations.AddField(
            model_name="release",
            name="count_targets",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Set with the targets; they do not change once the plan is frozen.",
            ),
        ),
        migrations.RunPython(count_existing_targets, migrations.RunPython.noop),
    ]
