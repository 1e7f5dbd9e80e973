"""Change requests and the bridge from Change Management: ``release_create_from_change``."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from releasemgmt.core.services import audit_record
from releases.choices import ReleaseLevel, Trigger
from releases.models import ChangeRequest, Release
from releases.services.planning import release_create

CHANGE_FIELDS = (
    "number",
    "title",
    "state",
    "change_type",
    "planned_start",
    "planned_end",
    "url",
    "raw",
)


@dataclass
class ChangeRecorded:
    change: ChangeRequest
    changed: bool  # False: an older version than the stored one, nothing written
    created: bool  # a new change request (it has no releases yet)


def change_request_upsert(
    *, source_system: str, external_id: str, source_version: str = "", by=None, **fields
) -> tuple[ChangeRequest, bool]:
    """Create or update a change request by (source system, external id). An older
    ``source_version`` than the stored one changes nothing (out-of-order deliveries).
    Returns ``(change, changed)``."""
    recorded = change_request_record(
        source_system=source_system,
        external_id=external_id,
        source_version=source_version,
        by=by,
        **fields,
    )
    return recorded.change, recorded.changed


# savepoint=False: nothing here catches an error, so the caller's transaction (or savepoint)
# rolls it all back — a savepoint of its own would cost two round trips per webhook delivery
@transaction.atomic(savepoint=False)
def change_request_record(
    *,
    source_system: str,
    external_id: str,
    source_version: str = "",
    by=None,
    approved_at: datetime | None = None,
    locked: dict | None = None,
    **fields,
) -> ChangeRecorded:
    """``change_request_upsert``, saying also whether the change was created; ``approved_at``
    is stored with the same write when the change has no approval time yet (an approval
    event), unless the version is older than the stored one.

    ``locked``: change requests the caller has already locked in this transaction, by
    ``(source_system, external_id)`` — a key missing from it means the change did not exist
    then (one created meanwhile elsewhere makes the insert fail on the unique constraint). A
    change created here is added to it."""
    fields = {k: v for k, v in fields.items() if k in CHANGE_FIELDS}
    if locked is not None:
        change = locked.get((source_system, external_id))
    else:
        change = (
            ChangeRequest.objects.select_for_update()
            .filter(source_system=source_system, external_id=external_id)
            .first()
        )
    if change is None:
        change = ChangeRequest.objects.create(
            source_system=source_system,
            external_id=external_id,
            source_version=source_version,
            approved_at=approved_at,
            **fields,
        )
        if locked is not None:
            locked[(source_system, external_id)] = change
        audit_record(
            actor=by,
            action="change_request.create",
            target=change,
            after={"number": change.number, "state": change.state},
        )
        return ChangeRecorded(change, changed=True, created=True)
    if source_version and change.source_version and _older(source_version, change.source_version):
        return ChangeRecorded(change, changed=False, created=False)
    before = {name: str(getattr(change, name)) for name in fields}
    for name, value in fields.items():
        setattr(change, name, value)
    change.source_version = source_version or change.source_version
    if change.approved_at is None:
        change.approved_at = approved_at
    change.save()
    audit_record(
        actor=by,
        action="change_request.update",
        target=change,
        before=before,
        after={name: str(getattr(change, name)) for name in fields},
    )
    return ChangeRecorded(change, changed=True, created=False)


def _older(incoming: str, stored: str) -> bool:
    """Counters compare as numbers, timestamps as ISO text."""
    try:
        return int(incoming) < int(stored)
    except ValueError:
        return incoming < stored


@transaction.atomic
def release_create_from_change(
    *,
    change: ChangeRequest,
    by=None,
    level: str = ReleaseLevel.DELTA,
    release_unit=None,
    title: str | None = None,
) -> Release:
    """Create a release in ``requested`` triggered by ``change`` and linked to it. Idempotent: a
    change that already has a release returns that release."""
    existing = change.releases.order_by("pk").first()
    if existing is not None:
        return existing
    return release_create(
        by=by,
        title=title or change.title[:200],
        level=level,
        release_unit=release_unit,
        trigger=Trigger.CHANGE_REQUEST,
        trigger_reference=change.number,
        change_requests=[change],
    )
