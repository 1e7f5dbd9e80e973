"""Writes of the platform: audit events and heartbeats."""

import json

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releasemgmt.core.models import AuditEvent, Heartbeat

SYSTEM_ACTOR = "system"


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


def snapshot(instance) -> dict:
    """The instance's concrete field values as JSON-safe data, for an audit event's before/after."""
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


@transaction.atomic
def record_delete(*, instance, actor, reason: str = "") -> None:
    """Delete ``instance`` with an audit event, in one transaction; a protected (still referenced)
    record is a 409 and leaves no audit event behind."""
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
