"""Celery entry points of releases: thin, idempotent, taking ids."""

from celery import shared_task

from releases.services import deployment


@shared_task(name="releases.tasks.dispatch_due_installations", ignore_result=True)
def dispatch_due_installations() -> int:
    """Periodic (≤ 30 s): release due installations to run (skip_locked claim)."""
    return deployment.installations_dispatch_due()


@shared_task(name="releases.tasks.watchdog", ignore_result=True)
def watchdog() -> dict:
    """Periodic (≤ 60 s): windows ended with targets not installed; deadlines passed unanswered."""
    return deployment.watchdog()
