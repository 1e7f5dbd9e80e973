"""Celery entry points of releases: thin, idempotent, taking ids. Each is named after the service it
runs; the Celery ``name=`` stays what beat rows and queued messages carry. Services enqueue these
by that name (``releasemgmt.core.queue.delay_on_commit``), never by importing this module."""

from celery import shared_task

from releases.services import alerts, failure_conditions, installation
from releases.webhooks import callbacks
from releases.webhooks import services as webhook_services


@shared_task(name="releases.tasks.dispatch_due_installations", ignore_result=True)
def installations_dispatch_due_task() -> int:
    """Periodic (≤ 30 s): release due installations to run (skip_locked claim)."""
    return installation.installations_dispatch_due()


@shared_task(name="releases.tasks.watchdog", ignore_result=True)
def watchdog_task() -> dict:
    """Periodic (≤ 60 s): windows ended with targets not installed; deadlines passed unanswered."""
    return failure_conditions.watchdog()


@shared_task(name="releases.tasks.process_webhook_delivery", ignore_result=True)
def webhook_delivery_process_task(delivery_id: int) -> None:
    """After commit of an accepted webhook delivery: process it (a repeat finds it done)."""
    webhook_services.webhook_delivery_process(delivery_id=delivery_id)


@shared_task(name="releases.tasks.sweep_webhook_deliveries", ignore_result=True)
def webhook_deliveries_sweep_task() -> int:
    """Periodic (60 s): process deliveries left "received" while the broker or worker was down."""
    return webhook_services.webhook_deliveries_sweep()


@shared_task(name="releases.tasks.send_callback", ignore_result=True, acks_late=True)
def callback_send_task(*, delivery_id: int) -> str:
    """Post one status callback now (the picker retries it later if it fails)."""
    return callbacks.callback_send(delivery_id=delivery_id)


@shared_task(name="releases.tasks.dispatch_due_callbacks", ignore_result=True)
def callbacks_dispatch_due_task() -> int:
    """Periodic (30 s): send the callbacks that are due (first tries and retries)."""
    return callbacks.callbacks_dispatch_due()


@shared_task(name="releases.tasks.backout_alert_send", ignore_result=True)
def backout_alert_send_task(*, release_id: int) -> str:
    """After a release starts waiting for a back-out decision: e-mail (and chat) the people who
    may approve it. A repeat, or a release no longer waiting, sends nothing."""
    return alerts.backout_alert_send(release_id=release_id)
