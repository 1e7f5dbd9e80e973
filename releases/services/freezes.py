"""Freeze windows: which apply to a release, declaring one, and the guard of ``install``
(installation may not start, nor be scheduled, inside one without an emergency override).

A step of the lifecycle table (``install_freeze_check``, and what it refuses, read only:
``install_freeze_problems``); takes no transition itself."""

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainPermissionDenied,
    DomainValidationError,
)
from releasemgmt.core.services import audit_record, record_save
from releases.models import FreezeWindow, Release


def freeze_applies_q(*, release_unit_id, environments) -> Q:
    """The rule for which freeze windows apply to a release: everything, its unit, or an
    environment of one of its targets. ``release_unit_id`` and ``environments`` are values or
    expressions (``OuterRef``, a subquery), so a page can apply the same rule to many releases
    in one query."""
    return (
        Q(scope="everything")
        | Q(scope="release_unit", release_unit_id=release_unit_id)
        | Q(scope="environment", environment__in=environments)
    )


def _freezes_for(release: Release):
    """Freeze windows that apply to the release."""
    # a subquery: run only when a freeze scoped to an environment is in question, never a
    # list of a large release's targets fetched first
    environments = release.targets.order_by().values("ci__environment")
    return FreezeWindow.objects.filter(
        freeze_applies_q(release_unit_id=release.release_unit_id, environments=environments)
    )


def freezes_at(moment: datetime, *, release: Release) -> list[FreezeWindow]:
    """Freeze windows covering ``moment`` that apply to the release. Compared in UTC."""
    return list(_freezes_for(release).filter(start__lte=moment, end__gt=moment))


def freezes_overlapping(start: datetime, end: datetime, *, release: Release) -> list[FreezeWindow]:
    """Freeze windows that apply to the release and overlap ``start``–``end``."""
    return list(_freezes_for(release).filter(start__lt=end, end__gt=start))


@transaction.atomic
def freeze_window_create(
    *,
    by,
    start,
    end,
    reason: str,
    scope: str = "everything",
    environment: str = "",
    release_unit=None,
) -> FreezeWindow:
    if not by.has_perm("releases.add_freezewindow"):
        raise DomainPermissionDenied("You do not have the permission to declare freeze windows.")
    window = FreezeWindow(
        start=start,
        end=end,
        reason=(reason or "").strip(),
        scope=scope,
        environment=environment,
        release_unit=release_unit,
        created_by=by,
    )
    return record_save(instance=window, actor=by)


def install_freezes(release: Release) -> list[FreezeWindow]:
    """Freeze windows that apply to the release and overlap what is left of its installation
    window (none when it has no window): what refuses ``install`` now."""
    if release.installation_start is None or release.installation_end is None:
        return []
    return freezes_overlapping(
        max(timezone.now(), release.installation_start), release.installation_end, release=release
    )


def _no_window(release: Release) -> str:
    return f"{release.number} has no installation window."


def _frozen(release: Release, frozen) -> str:
    names = "; ".join(
        f"{w.reason} ({w.start:%Y-%m-%d %H:%M}–{w.end:%Y-%m-%d %H:%M} UTC)" for w in frozen
    )
    return (
        f"The installation window of {release.number} overlaps a freeze: {names}. "
        "An emergency override needs the freeze-override permission and a reason."
    )


def install_freeze_problems(release: Release, by=None) -> list[str]:
    """What the guard of ``install`` refuses now (no window, or a freeze over it), in the words
    of its refusal; read only, so a page or the API can say it before anyone asks."""
    if release.installation_start is None or release.installation_end is None:
        return [_no_window(release)]
    frozen = install_freezes(release)
    return [_frozen(release, frozen)] if frozen else []


def install_freeze_check(release: Release, *, by, reason: str, details: dict) -> None:
    """Guard of ``install``: installation may not start, nor be scheduled, inside a freeze window
    (409 naming it). An emergency install (``details["freeze_override"]``, see
    ``overrides.release_install_with_freeze_override``) is the exception: it needs a freeze that
    applies (409 otherwise), the freeze-override permission and a reason, and is audited."""
    if release.installation_start is None or release.installation_end is None:
        raise DomainConflict(_no_window(release))
    frozen = install_freezes(release)
    if details.get("freeze_override"):
        if not frozen:
            raise DomainConflict(
                f"No freeze window applies to the installation window of {release.number}: "
                "install it without an emergency override.",
                extra={"state": release.state},
            )
        require_freeze_override(by, reason, frozen, release)
        return
    if frozen:
        raise DomainConflict(_frozen(release, frozen), extra={"freezes": [w.pk for w in frozen]})


def require_freeze_override(by, reason: str, frozen, release) -> None:
    if not by.has_perm("releases.override_freeze"):
        raise DomainConflict(
            f"A freeze window is in force: {frozen[0].reason}. Only an emergency override may start installations now."
        )
    if not (reason or "").strip():
        raise DomainValidationError(
            {"freeze_override_reason": "Give the reason for overriding the freeze."}
        )
    audit_record(
        actor=by,
        action="release.freeze_override",
        target=release,
        reason=reason,
        after={"freezes": [w.pk for w in frozen]},
    )
