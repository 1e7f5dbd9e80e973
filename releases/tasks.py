"""Celery entry points of releases: thin, idempotent, taking ids. Each is named after the service it
runs; the Celery ``name=`` stays what beat rows and queued messages carry. Services enqueue these
by that name (``releasemgmt.core.queue.delay_on_commit``), never by importing this module."""

from celery import shared_task

from releases.services import alerts, failure_conditions, installation

# Celery discovers only this module of the app: importing the webhook integration's tasks here
# registers them (send_callback, process_webhook_delivery, …) in the worker, beat and web alike.
from releases.webhooks import tasks as webhook_tasks  # noqa: F401


@shared_task(name="releases.tasks.dispatch_due_installations", ignore_result=True)
def installations_dispatch_due_task() -> int:
    """Periodic (≤ 30 s): release due installations to run (skip_locked claim)."""
    return installation.installations_dispatch_due()


@shared_task(name="releases.tasks.watchdog", ignore_result=True)
def watchdog_task() -> dict:
    """Periodic (≤ 60 s): windows ended with targets not installed; deadlines passed unanswered."""
    return failure_conditions.watchdog()


@shared_task(name="releases.tasks.backout_alert_send", ignore_result=True)
def backout_alert_send_task(*, release_id: int) -> str:
    """After a release starts waiting for a back-out decision: e-mail (and chat) the people who
    may approve it. A repeat, or a release no longer waiting, sends nothing."""
    return alerts.backout_alert_send(release_id=release_id)
