"""Handing follow-up work to the workers once the transaction that asked for it has committed.

Services name the task by its Celery name (``name=`` of its ``@shared_task``) instead of importing
the task module: a task module imports its services, so a service importing it back would close a
circle. The name is what beat rows and queued messages carry anyway."""

import logging

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def delay_on_commit(task_name: str, /, *, if_lost: str, level: int = logging.WARNING, **kwargs):
    """After the current transaction commits (at once outside one), send the task registered as
    ``task_name`` to the workers with ``kwargs`` (JSON: ids, not objects).

    A broker that cannot take the message never undoes or fails the committed work: the failure
    is logged at ``level`` with ``if_lost`` — what makes up for the lost message (a sweeper, a
    picker, a page that still shows it) — and the caller carries on."""

    def send() -> None:
        try:
            task_get(task_name).delay(**kwargs)
        except Exception:  # any broker failure: the committed rows stay, if_lost says what then
            described = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
            logger.log(
                level,
                "%s(%s) not enqueued; %s",
                task_name,
                described,
                if_lost,
                exc_info=True,
            )

    transaction.on_commit(send)


def task_get(task_name: str):
    """The task registered as ``task_name``. Outside the worker the task modules are imported on
    first use (Celery's autodiscovery is lazy there)."""
    if task_name not in current_app.tasks:
        current_app.loader.import_default_modules()
    return current_app.tasks[task_name]


def tasks_load() -> None:
    """Import every app's task module and finalize the task registry now — for a web process at
    start, so that the first request enqueueing work does not pay for it (a third of a second on
    a 2-core machine)."""
    current_app.loader.import_default_modules()
    current_app.finalize(auto=True)
