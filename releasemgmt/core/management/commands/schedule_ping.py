import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from releasemgmt.core.choices import JobStatus
from releasemgmt.core.models import ScheduledJob
from releasemgmt.core.services import scheduled_job_create


class Command(BaseCommand):
    help = (
        "Schedule a no-op job a few seconds ahead and wait until beat's picker and a worker have "
        "run it: checks the whole background chain on a live installation."
    )

    def add_arguments(self, parser):
        parser.add_argument("--in-seconds", type=int, default=2)
        parser.add_argument("--timeout", type=int, default=120)

    def handle(self, in_seconds, timeout, **options):
        job = scheduled_job_create(
            task_name="releasemgmt.core.tasks.ping",
            due_at=timezone.now() + timedelta(seconds=in_seconds),
        )
        self.stdout.write(f"Scheduled job {job.pk} due at {job.due_at:%H:%M:%S} UTC; waiting…")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status == JobStatus.DONE:
                delay = (job.finished_at - job.due_at).total_seconds()
                self.stdout.write(self.style.SUCCESS(f"Ran {delay:.1f} s after it was due."))
                return
            if job.status == JobStatus.FAILED:
                raise CommandError(f"The job failed: {job.last_error}")
            time.sleep(0.5)
        ScheduledJob.objects.filter(pk=job.pk, status=JobStatus.PENDING).delete()
        raise CommandError(
            f"Not run within {timeout} s (status {job.status}): are beat and a worker running? See /healthz."
        )
