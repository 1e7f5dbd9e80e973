"""The back-out's steps in the lifecycle table: approving it backs out every target that had
started installing, returns the DHS reservations and withdraws an override request still waiting,
and completes it at once when nothing needs undoing; an override of the back-out is only ever taken as the confirmation of a second person.

What decides a back-out takes transitions and lives elsewhere: the failure conditions and the
watchdog in ``failure_conditions``, the override's request and confirmation in ``overrides``."""

from dsl_dhs.choices import ReservationStatus
from dsl_dhs.models import Reservation
from dsl_dhs.services import reservation_return
from releasemgmt.core.exceptions import DomainConflict
from releasemgmt.core.services import audit_record
from releases.choices import InstallationState, OverrideStatus
from releases.models import BackoutOverride, Release

IS = InstallationState


def backout_start(release: Release, by) -> None:
    """After ``approve_backout``: back out every target that had started or finished installing;
    the others never changed. DHS reservations go back to stock."""
    touched = release.targets.filter(installation_state__in=[IS.RUNNING, IS.SUCCEEDED, IS.FAILED])
    touched.update(installation_state=IS.BACKING_OUT)
    _return_reservations(release, by)


def overrides_withdraw(release: Release, by) -> None:
    """After ``approve_backout`` (by ops, or by the system at the deadline): an override request
    still waiting for its second person is withdrawn — the decision is taken — and each is
    audited. Runs in the transition's transaction."""
    waiting = list(
        BackoutOverride.objects.select_for_update()
        .filter(release=release, status=OverrideStatus.REQUESTED)
        .select_related("requested_by")
    )
    if by is None:
        why = "the decision deadline passed and the back-out started automatically"
    else:
        why = f"the back-out was approved by {by.get_username()}"
    for override in waiting:
        override.status = OverrideStatus.WITHDRAWN
        override.save(update_fields=["status"])
        audit_record(
            actor=by,
            action="release.override_withdrawn",
            target=release,
            before={"override": override.pk, "status": OverrideStatus.REQUESTED.value},
            after={"override": override.pk, "status": OverrideStatus.WITHDRAWN.value},
            reason=f"Override requested by {override.requested_by.get_username()} withdrawn: "
            f"{why} before anyone confirmed it.",
        )


def backout_complete_at_once(release: Release) -> tuple[str, dict] | None:
    """Follows ``approve_backout``: with nothing to undo, the back-out is complete at once."""
    if release.targets.filter(installation_state=IS.BACKING_OUT).exists():
        return None
    return "complete_backout", {"targets": 0}


def _return_reservations(release: Release, by) -> None:
    for reservation in Reservation.objects.filter(
        reference=release.number, status=ReservationStatus.RESERVED
    ):
        reservation_return(reservation=reservation, by=by, note=f"{release.number} backed out")


TWO_PEOPLE = (
    "An override needs two people: request it with a reason (POST /api/v1/releases/{id}/overrides/); "
    "another person with the override permission confirms it (POST /api/v1/overrides/{id}/confirm/)."
)


def backout_override_problems(release: Release, by=None) -> list[str]:
    """What the guard of ``override_backout`` refuses a person asking for it by name: always
    (only a confirmation takes it). Read only."""
    return [TWO_PEOPLE] if by is not None else []


def backout_override_confirmed_only(release: Release, *, by, reason: str, details: dict) -> None:
    """Guard of ``override_backout``: it is taken only by ``overrides.backout_override_confirm`` — a
    second person confirming someone else's written request — never directly by one person."""
    if by is not None and not details.get("override"):
        raise DomainConflict(TWO_PEOPLE, extra={"state": release.state})
