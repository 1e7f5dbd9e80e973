"""Writes of the platform: audit events, heartbeats and work due later."""

import logging
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from releasemgmt.core.choices import JobStatus
from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releasemgmt.core.models import AuditEvent, Heartbeat, ScheduledJob

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
# A dispatched job whose message never reached a worker (broker lost it) is sent again after this.
REDISPATCH_AFTER = timedelta(minutes=10)
MAX_ATTEMPTS = 5


def person_or_none(by):
    """``by`` when it is a signed-in person, else None (the system, an anonymous caller)."""
    return by if getattr(by, "is_authenticated", False) else None


def audit_record(
    *,
    actor=None,
    action: str,
    target=None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    source_ip: str | None = None,
) -> AuditEvent:
    """Append one event to the audit log. Runs inside the caller's transaction, so the event and
    the change it describes commit or roll back together. ``actor=None`` means the system."""
    is_person = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if is_person else None,
        actor_name=actor.get_username() if is_person else SYSTEM_ACTOR,
        action=action,
        content_type=ContentType.objects.get_for_model(target) if target is not None else None,
        object_id=str(target.pk) if target is not None else "",
        object_repr=str(target)[:200] if target is not None else "",
        before=before,
        after=after,
        reason=reason,
        source_ip=source_ip,
    )


def heartbeat_record(*, component: str, detail: str = "") -> None:
    """Record that ``component`` (worker or beat) is alive now. One upsert, no transaction needed."""
    Heartbeat.objects.update_or_create(
        component=component,
        defaults={"last_seen": timezone.now(), "detail": detail[:200]},
    )


def scheduled_job_create(
    *, task_name: str, due_at: datetime, kwargs: dict | None = None
) -> ScheduledJob:
    """Schedule the Celery task ``task_name`` to run at ``due_at`` (UTC-aware). The job is a row;
    the periodic picker dispatches it when due."""
    from releasemgmt.celery import app

    app.loader.import_default_modules()  # autodiscovery is lazy outside the worker
    if task_name not in app.tasks:
        raise DomainValidationError({"task_name": f"No task named {task_name!r} is registered."})
    if timezone.is_naive(due_at):
        raise DomainValidationError({"due_at": "Give a time with a time zone (UTC is stored)."})
    return ScheduledJob.objects.create(task_name=task_name, kwargs=kwargs or {}, due_at=due_at)


def scheduled_jobs_dispatch(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Claim due jobs and send each to the workers after commit.

    Due = pending with ``due_at <= now``, or dispatched so long ago that its message was lost.
    Rows are claimed with ``select_for_update(skip_locked=True)``, so two pickers running at once
    never claim the same job. Returns the claimed ids."""
    from releasemgmt.core.tasks import run_scheduled_job

    now = now or timezone.now()
    with transaction.atomic():
        due = (
            ScheduledJob.objects.select_for_update(skip_locked=True)
            .filter(attempts__lt=MAX_ATTEMPTS)
            .filter(_due(now))
            .order_by("due_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        ids = list(due)
        if ids:
            ScheduledJob.objects.filter(id__in=ids).update(
                status=JobStatus.DISPATCHED, dispatched_at=now, attempts=F("attempts") + 1
            )
            for job_id in ids:
                transaction.on_commit(lambda job_id=job_id: run_scheduled_job.delay(job_id=job_id))
    return ids


def _due(now: datetime) -> Q:
    return Q(status=JobStatus.PENDING, due_at__lte=now) | Q(
        status=JobStatus.DISPATCHED, dispatched_at__lte=now - REDISPATCH_AFTER
    )


def scheduled_job_run(*, job_id: int) -> str:
    """Run a dispatched job once. The row is locked while the task body runs in the same
    transaction, so a repeated message (redelivery after a lost worker) finds it done and returns.
    A failing body rolls back its own writes and leaves the job ``failed`` with the reason."""
    from releasemgmt.celery import app

    try:
        with transaction.atomic():
            job = ScheduledJob.objects.select_for_update().filter(pk=job_id).first()
            if job is None or job.status != JobStatus.DISPATCHED:
                return "skipped"
            app.tasks[job.task_name](**job.kwargs)
            job.status = JobStatus.DONE
            job.finished_at = timezone.now()
            job.last_error = ""
            job.save(update_fields=["status", "finished_at", "last_error"])
            return "done"
    except Exception as error:
        logger.exception("Scheduled job %s failed", job_id)
        ScheduledJob.objects.filter(pk=job_id, status=JobStatus.DISPATCHED).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            last_error=f"{type(error).__name__}: {error}"[:2000],
        )
        return "failed"


def snapshot(instance) -> dict:
    """The instance's concrete field values as JSON-safe data, for an audit event's before/after."""
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    data = {}
    for field in instance._meta.concrete_fields:
        value = field.value_from_object(instance)
        if hasattr(value, "name") and field.get_internal_type() == "FileField":
            value = value.name or ""
        data[field.attname] = value
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def record_save(
    *, instance, actor, action: str | None = None, reason: str = "", exclude_clean=None
):
    """Validate (``full_clean``) and save ``instance`` with an audit event carrying the changed
    fields. ``action`` defaults to ``<app>.<model>.create`` / ``.update``. Call it inside the
    service's transaction."""
    from django.core.exceptions import ValidationError

    meta = instance._meta
    creating = instance._state.adding
    before = None
    if not creating:
        previous = type(instance)._default_manager.filter(pk=instance.pk).first()
        before = snapshot(previous) if previous is not None else None
    # full_clean re-assigns every field; protected state-machine fields refuse that.
    protected = [f.name for f in meta.concrete_fields if getattr(f, "protected", False)]
    try:
        instance.full_clean(exclude=[*(exclude_clean or []), *protected])
    except ValidationError as error:
        raise DomainValidationError(
            {field: " ".join(messages) for field, messages in error.message_dict.items()}
        ) from None
    instance.save()
    after = snapshot(instance)
    if before is not None:
        changed = {k for k in after if before.get(k) != after[k]}
        before = {k: before.get(k) for k in sorted(changed)}
        after = {k: after[k] for k in sorted(changed)}
        if not changed:
            return instance
    audit_record(
        actor=actor,
        action=action or f"{meta.app_label}.{meta.model_name}.{'create' if creating else 'update'}",
        target=instance,
        before=before,
        after=after,
        reason=reason,
    )
    return instance


def record_delete(*, instance, actor, reason: str = "") -> None:
    """Delete ``instance`` with an audit event; a protected (still referenced) record is a 409."""
    from django.db.models import ProtectedError, RestrictedError

    meta = instance._meta
    before = snapshot(instance)
    audit_record(
        actor=actor,
        action=f"{meta.app_label}.{meta.model_name}.delete",
        target=instance,
        before=before,
        reason=reason,
    )
    try:
        with transaction.atomic():
            instance.delete()
    except (ProtectedError, RestrictedError) as error:
        names = sorted(
            {str(obj) for obj in list(error.protected_objects)[:5]}
            if hasattr(error, "protected_objects")
            else set()
        )
        raise DomainConflict(
            f"{meta.verbose_name.capitalize()} “{instance}” is still in use"
            + (f" (by {', '.join(names)})" if names else "")
            + "; remove those first or retire it instead."
        ) from None
