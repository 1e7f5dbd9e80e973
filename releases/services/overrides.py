"""Overriding a rule, each through the one transition service: the emergency install (``install``
while a freeze window applies) and continuing despite a met failure condition (``override_backout``,
asked for by one person and confirmed by another)."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainPermissionDenied,
    DomainValidationError,
)
from releasemgmt.core.services import audit_record
from releases.choices import OverrideStatus, ReleaseState
from releases.models import BackoutOverride, Release
from releases.services import lifecycle


def release_install_with_freeze_override(*, release: Release, by, reason: str) -> Release:
    """``install`` while a freeze window applies to the release: an emergency. It is ``install``
    (through ``release_transition``: its permission, 403, its state, 409) whose freeze guard
    (``freezes.install_freeze_check``) asks instead for a freeze that applies (409 when none does),
    the freeze-override permission (409 without) and a reason (400), and audits the override."""
    return lifecycle.release_transition(
        release=release.pk, name="install", by=by, reason=reason, details={"freeze_override": True}
    )


@transaction.atomic
def backout_override_request(*, release: Release, by, reason: str) -> BackoutOverride:
    """Ask to continue despite the met condition. A different person with the override
    permission must confirm; until then the release stays halted."""
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise DomainValidationError(
            {"reason": "Write why continuing is safer than backing out (at least a sentence)."}
        )
    release = Release.objects.select_for_update().get(pk=release.pk)
    if release.state != ReleaseState.BACKOUT_REQUIRED:
        raise DomainConflict(f"{release.number} is not waiting for a back-out decision.")
    if not (by.has_perm("releases.override_backout") or by.has_perm("releases.approve_backout")):
        raise DomainPermissionDenied("Only ops may request an override.")
    try:
        with transaction.atomic():
            override = BackoutOverride.objects.create(
                release=release, reason=reason, requested_by=by
            )
    except IntegrityError:
        raise DomainConflict(
            "An override is already awaiting confirmation for this release."
        ) from None
    audit_record(actor=by, action="release.override_request", target=release, reason=reason)
    return override


@transaction.atomic
def backout_override_confirm(*, override: BackoutOverride, by) -> Release:
    """A second person with the override permission confirms: installation resumes (halted
    targets are scheduled again) and the override is counted. A request withdrawn because the
    back-out started is refused (409)."""
    override = (
        BackoutOverride.objects.select_for_update().select_related("release").get(pk=override.pk)
    )
    if override.status == OverrideStatus.WITHDRAWN:
        raise DomainConflict(
            f"This override request was withdrawn: the back-out of {override.release.number} "
            "started (approved by ops, or automatically at the decision deadline) before anyone "
            "confirmed it. A running back-out cannot be overridden.",
            extra={"state": override.release.state, "status": override.status},
        )
    if override.status != OverrideStatus.REQUESTED:
        raise DomainConflict(f"This override is already {override.get_status_display().lower()}.")
    if override.requested_by_id == by.pk:
        raise DomainPermissionDenied("Nobody confirms their own override: another person must.")
    if not by.has_perm("releases.override_backout"):
        raise DomainPermissionDenied(
            "You do not have the permission to confirm back-out overrides."
        )
    override.status, override.confirmed_by, override.confirmed_at = (
        OverrideStatus.CONFIRMED,
        by,
        timezone.now(),
    )
    override.save(update_fields=["status", "confirmed_by", "confirmed_at"])
    return lifecycle.release_transition(
        release=override.release_id,
        name="override_backout",
        by=by,
        reason=f"Override requested by {override.requested_by.get_username()}: {override.reason}",
        details={"override": override.pk},
    )
