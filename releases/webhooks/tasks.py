"""Celery entry points of the webhook integration: thin, idempotent, taking ids. Each is named after
the service it runs; the Celery ``name=`` stays what beat rows and queued messages carry
(``releases.tasks.…``, from when these lived in ``releases/tasks.py``). Services enqueue them by that
name (``releasemgmt.core.queue.delay_on_commit``), never by importing this module.

Celery discovers ``<app>.tasks`` only; ``releases/tasks.py`` imports this module, so every process
that knows the releases tasks knows these too."""

from celery import shared_task

from releases.webhooks import callbacks, services


@shared_task(name="releases.tasks.process_webhook_delivery", ignore_result=True)
def webhook_delivery_process_task(delivery_id: int | None = None) -> int:
    """A wake, published after commit by the receiver (at most one pending at a time) and by
    replay: drain every "received" delivery in batches. ``delivery_id`` is carried only by
    messages queued before batching; that delivery is drained with the others."""
    return services.webhook_deliveries_woken()


@shared_task(name="releases.tasks.sweep_webhook_deliveries", ignore_result=True)
def webhook_deliveries_sweep_task() -> int:
    """Periodic (60 s): drain deliveries left "received" while the broker or worker was down."""
    return services.webhook_deliveries_sweep()


@shared_task(name="releases.tasks.send_callback", ignore_result=True, acks_late=True)
def callback_send_task(*, delivery_id: int, claimed_until: str | None = None) -> str:
    """Post one status callback now, outside any transaction (the picker retries it later if it
    fails). ``claimed_until``: the lease of the picker's claim, when the picker sent it."""
    return callbacks.callback_send(delivery_id=delivery_id, claimed_until=claimed_until)


@shared_task(name="releases.tasks.dispatch_due_callbacks", ignore_result=True)
def callbacks_dispatch_due_task() -> int:
    """Periodic (30 s): claim the callbacks that are due (first tries and retries) and send one
    ``send_callback`` task per callback; it posts none itself."""
    return callbacks.callbacks_dispatch_due()
