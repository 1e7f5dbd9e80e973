"""Celery entry points of the platform: thin, take ids, idempotent."""

from celery import shared_task

from releasemgmt.core import services


@shared_task(name="releasemgmt.core.tasks.dispatch_due_jobs", ignore_result=True)
def dispatch_due_jobs() -> int:
    """Periodic (beat): claim every due scheduled job and send it to the workers."""
    return len(services.scheduled_jobs_dispatch())


@shared_task(name="releasemgmt.core.tasks.run_scheduled_job", acks_late=True, ignore_result=True)
def run_scheduled_job(*, job_id: int) -> str:
    """Run one dispatched job; a repeat delivery finds it done and returns."""
    return services.scheduled_job_run(job_id=job_id)


@shared_task(name="releasemgmt.core.tasks.ping", ignore_result=True)
def ping() -> str:
    """A no-op with an observable effect only through its scheduled job: used to check that beat,
    the picker and a worker work end to end (``manage.py schedule_ping``)."""
    return "pong"
