"""Scheduled jobs served nothing but their own check (``schedule_ping``): the work that is due later
lives in its own rows (installations, callbacks) with their own pickers. Beat's stored entry for the
removed picker goes too, so beat never sends a task no worker knows."""

from django.db import migrations

REMOVED_BEAT_ENTRY = "dispatch-due-jobs"


def forget_the_picker(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=REMOVED_BEAT_ENTRY).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [
        migrations.DeleteModel(name="ScheduledJob"),
        # Going back, beat writes the entry again from CELERY_BEAT_SCHEDULE.
        migrations.RunPython(forget_the_picker, migrations.RunPython.noop),
    ]
