"""Distribution and installation: the steps of the lifecycle table that start them
(``distribute``, ``install``), resume them (``override_backout``) and record their result in the
CMDB (``close``); the installation plan in waves, the periodic picker of due installations, the
manual trigger and the retry of failed installations; and the release's progress counters, which
only move in one UPDATE.

Takes no transition itself: reports, the failure conditions and the overrides do."""

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from cmdb.choices import InstallSource
from cmdb.services.software import installed_software_record
from dsl_dhs.choices import ReservationStatus
from dsl_dhs.models import Reservation
from dsl_dhs.services import reservation_consume
from releasemgmt.core.exceptions import DomainConflict, DomainPermissionDenied
from releasemgmt.core.services import audit_record
from releases.choices import (
    DistributionState,
    InstallationMode,
    InstallationState,
    ItemKind,
    ReleaseState,
)
from releases.models import Release, ReleaseTarget
from releases.services import policies
from releases.services.freezes import freezes_at, require_freeze_override

IS = InstallationState
DS = DistributionState


def distribution_start(release: Release, by) -> None:
    """After ``distribute``: every target waits for its distribution report."""
    release.targets.update(distribution_state=DS.PENDING, distributed_at=None)


def installations_start(release: Release, by) -> None:
    """After ``install``: every pending target gets its installation plan."""
    schedule_installations(release)


def schedule_installations(
    release: Release, *, now: datetime | None = None, first_wave: int = 1
) -> int:
    """Give every pending target its installation plan in bulk: due times in waves inside the
    window (scheduled mode; numbered from ``first_wave``, due from now at the earliest), waiting
    for its login count (condition mode), or left for a manual trigger. One UPDATE per wave."""
    now = now or timezone.now()
    pending = release.targets.filter(installation_state=IS.PENDING)
    if release.installation_mode == InstallationMode.CONDITION:
        return pending.update(installation_state=IS.WAITING)
    if release.installation_mode == InstallationMode.MANUAL:
        return 0
    ids = list(pending.order_by("ci__identifier").values_list("pk", flat=True))
    size = release.wave_size or len(ids) or 1
    start = max(release.installation_start or now, now)
    for wave, first in enumerate(range(0, len(ids), size), start=first_wave):
        due = start + timedelta(minutes=release.wave_interval_minutes * (wave - first_wave))
        ReleaseTarget.objects.filter(pk__in=ids[first : first + size]).update(
            installation_state=IS.SCHEDULED, due_at=due, wave=wave
        )
    return len(ids)


def installations_dispatch_due(*, now: datetime | None = None, limit: int = 2000) -> int:
    """The periodic picker: release due scheduled installations (and waiting ones whose target
    reports few enough logins) to run, unless a freeze window covers now. A wave starts at its
    due time but not before every installation of the release's earlier waves has reported, so a
    failure condition met in one wave still stops the later ones (``lowest_open``). Rows
    are claimed with ``select_for_update(skip_locked=True)``, so two pickers never take the same
    target; agents see released work on their next poll."""
    now = now or timezone.now()
    with transaction.atomic():
        # The lowest wave still open in each installing release, in one grouped query: a
        # scheduled target may start when its wave is not above it. (Asking "is an earlier wave
        # open?" for each candidate row re-reads the release's targets per row: quadratic.)
        lowest_open = (
            ReleaseTarget.objects.filter(
                release__state=ReleaseState.INSTALLING,
                installation_state__in=(IS.SCHEDULED, IS.RUNNING),
            )
            .order_by()
            .values_list("release_id")
            .annotate(wave=Min("wave"))
        )
        in_turn = Q(pk__in=[])  # nothing, when no release has a scheduled target
        for release_id, wave in lowest_open:
            in_turn |= Q(release_id=release_id, wave__lte=wave)
        due = list(
            ReleaseTarget.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(release__state=ReleaseState.INSTALLING)
            .filter(
                (Q(installation_state=IS.SCHEDULED, due_at__lte=now) & in_turn)
                | Q(
                    installation_state=IS.WAITING,
                    ci__agent_status__login_count__lte=F("release__login_threshold"),
                    ci__agent_status__last_seen__gte=now - timedelta(minutes=10),
                )
            )
            .select_related("release")
            .order_by("due_at", "pk")[:limit]
        )
        blocked = {}
        ready = []
        for target in due:
            release = target.release
            if release.pk not in blocked:
                blocked[release.pk] = bool(freezes_at(now, release=release)) or (
                    release.installation_end and release.installation_end <= now
                )
            if not blocked[release.pk]:
                ready.append(target.pk)
        if ready:
            ReleaseTarget.objects.filter(pk__in=ready).update(
                installation_state=IS.RUNNING, dispatched_at=now, attempts=F("attempts") + 1
            )
    return len(ready)


@transaction.atomic
def target_install_now(
    *,
    target: ReleaseTarget,
    by,
    freeze_override_reason: str = "",
    confirm_outside_window: bool = False,
    outside_window_reason: str = "",
) -> ReleaseTarget:
    """Manual trigger: release one target's installation to run now — or run a failed one again.
    Outside freezes unless overridden with the permission and a reason; inside the installation
    window unless confirmed with a reason (``confirm_outside_window``, audited; 409 without, or
    always when the category refuses it). A retried target leaves the failure count; its new
    result counts instead."""
    if not by.has_perm("releases.deploy_release"):
        raise DomainPermissionDenied("You do not have the permission to start installations.")
    target = ReleaseTarget.objects.select_for_update().select_related("release").get(pk=target.pk)
    release = target.release
    if release.state != ReleaseState.INSTALLING:
        raise DomainConflict(
            f"{release.number} is {release.get_state_display().lower()}, not installing."
        )
    if target.installation_state not in (IS.PENDING, IS.SCHEDULED, IS.WAITING, IS.FAILED):
        raise DomainConflict(
            f"The installation on {target.ci} is already {target.get_installation_state_display().lower()}."
        )
    now = timezone.now()
    frozen = freezes_at(now, release=release)
    if frozen:
        require_freeze_override(by, freeze_override_reason, frozen, release)
    outside = policies.install_now_window_check(
        release, by=by, confirmed=confirm_outside_window, reason=outside_window_reason, now=now
    )
    if target.installation_state == IS.FAILED:
        counters_bump(release, count_install_failed=-1)
    target.installation_state, target.dispatched_at, target.attempts = (
        IS.RUNNING,
        now,
        target.attempts + 1,
    )
    target.save(update_fields=["installation_state", "dispatched_at", "attempts"])
    audit_record(
        actor=by,
        action="release.install_now",
        target=release,
        after={"ci": target.ci.identifier, **({"outside_window": outside} if outside else {})},
        reason=" ".join(
            text.strip() for text in (freeze_override_reason, outside_window_reason) if text.strip()
        ),
    )
    return target


@transaction.atomic
def release_retry_failed_targets(
    *,
    release: Release,
    by,
    freeze_override_reason: str = "",
    confirm_outside_window: bool = False,
    outside_window_reason: str = "",
) -> int:
    """Run every failed installation of an installing release again now, each a new attempt
    (counted in ``attempts``): the way on after an override, or after failures that crossed no
    condition. The retried targets leave the failure count; their new results count instead.
    Needs ``deploy_release`` (403); 409 when the release is not installing or nothing failed;
    during a freeze, the freeze-override permission and a reason; outside the installation
    window, a confirmation with a reason (as "install now"; refused when the category refuses
    it) — both audited. One transaction with the release locked; a target whose own report is in
    flight right now is left for the next retry. Returns how many were released to run."""
    if not by.has_perm("releases.deploy_release"):
        raise DomainPermissionDenied("You do not have the permission to start installations.")
    release = Release.objects.select_for_update().get(pk=release.pk)
    if release.state != ReleaseState.INSTALLING:
        raise DomainConflict(
            f"{release.number} is {release.get_state_display().lower()}: failed installations "
            "are retried only while it is installing.",
            extra={"state": release.state},
        )
    now = timezone.now()
    frozen = freezes_at(now, release=release)
    if frozen:
        require_freeze_override(by, freeze_override_reason, frozen, release)
    outside = policies.install_now_window_check(
        release, by=by, confirmed=confirm_outside_window, reason=outside_window_reason, now=now
    )
    # skip_locked: a report in flight holds its target and waits for the release (see reports)
    failed = list(
        ReleaseTarget.objects.select_for_update(skip_locked=True)
        .filter(release=release, installation_state=IS.FAILED)
        .order_by("pk")
        .values_list("pk", "ci__identifier")
    )
    if not failed:
        raise DomainConflict(
            f"No installation of {release.number} has failed: there is nothing to retry.",
            extra={"state": release.state},
        )
    ReleaseTarget.objects.filter(pk__in=[pk for pk, _ in failed]).update(
        installation_state=IS.RUNNING, dispatched_at=now, attempts=F("attempts") + 1
    )
    counters_bump(release, count_install_failed=-len(failed))
    audit_record(
        actor=by,
        action="release.retry_failed_targets",
        target=release,
        after={
            "targets": len(failed),
            "cis": [ci for _, ci in failed[:100]],
            **({"outside_window": outside} if outside else {}),
        },
        reason=" ".join(r for r in (freeze_override_reason, outside_window_reason) if r),
    )
    return len(failed)


def installations_resume(release: Release, by) -> None:
    """After ``override_backout``: halted targets are scheduled again, as the next waves after
    those that had started (the first due now); failed ones run again only when retried
    (``release_retry_failed_targets``)."""
    started = release.targets.exclude(installation_state__in=[IS.HALTED, IS.PENDING]).aggregate(
        last=Max("wave")
    )["last"]
    release.targets.filter(installation_state=IS.HALTED).update(installation_state=IS.PENDING)
    schedule_installations(release, first_wave=(started or 0) + 1)


def release_record_in_cmdb(release: Release, by) -> None:
    """A completed release updates the CMDB — what is now installed where — in the same
    transaction as ``close``, and consumes its DHS reservations. A backed-out release changed
    nothing in the CMDB."""
    if release.outcome != "completed":
        return
    versions = [
        item.software_version
        for item in release.items.filter(kind=ItemKind.SOFTWARE).select_related(
            "software_version__product"
        )
    ]
    for target in release.targets.filter(installation_state=IS.SUCCEEDED).select_related("ci"):
        for version in versions:
            installed_software_record(
                ci=target.ci,
                version=version,
                by=by,
                source=InstallSource.RELEASE,
                source_reference=release.number,
                installed_at=target.installed_at,
            )
    for reservation in Reservation.objects.filter(
        reference=release.number, status=ReservationStatus.RESERVED
    ):
        reservation_consume(reservation=reservation, by=by, note=f"installed by {release.number}")


PROGRESS_FIELDS = (
    "state",
    "count_targets",
    "count_distributed",
    "count_distribution_failed",
    "count_installed",
    "count_install_failed",
    "count_backed_out",
    "count_backout_failed",
)


def counters_move(release_id: int, counters: dict, *, states) -> dict | None:
    """Move the release's counters and read them back in one statement — only while the release
    is in one of ``states`` (else None). The statement takes the release's row lock, held from
    here to the commit that follows, and sees every report committed before it."""
    with connection.cursor() as cursor:
        cursor.execute(*counters_statement(release_id, counters, states=states))
        row = cursor.fetchone()
    return dict(zip(PROGRESS_FIELDS, row, strict=True)) if row else None


def counters_statement(release_id: int, counters: dict, *, states, guard: str = "") -> tuple:
    """``counters_move``'s UPDATE … RETURNING ``PROGRESS_FIELDS`` and its parameters; ``guard``:
    SQL added to its condition by a caller that runs it inside a larger statement."""
    quote = connection.ops.quote_name
    assignments = [f"{quote(name)} = {quote(name)} + %s" for name in counters] or [
        f"{quote('count_targets')} = {quote('count_targets')}"  # still lock, still check
    ]
    # only quoted names from this module (and the caller's guard) are formatted in; the values
    # are parameters
    sql = (
        f"UPDATE {quote(Release._meta.db_table)} SET {', '.join(assignments)}"  # noqa: S608
        f" WHERE {quote('id')} = %s AND {quote('state')} IN ({', '.join(['%s'] * len(states))})"
        f"{guard} RETURNING {', '.join(quote(name) for name in PROGRESS_FIELDS)}"
    )
    return sql, [*counters.values(), release_id, *states]


def counters_bump(release: Release, **counters) -> None:
    """Move the counters of a release this transaction has locked, and the object in hand."""
    if counters:
        progress = counters_move(release.pk, counters, states=(release.state,))
        for name in counters:
            setattr(release, name, progress[name])
