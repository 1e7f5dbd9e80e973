"""Distribution, installation, failure conditions and back-out.

Per-target work is bulk; every report updates the release's counters in the same transaction and
evaluates the failure conditions from them (never a scan of all targets per report). When a
condition is met the release moves to ``backout_required`` at once and every installation not yet
started is halted — no "just two more minutes"."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from cmdb.choices import ErrorKind, ErrorSource, InstallSource
from cmdb.services import discrepancy_record, installed_software_record
from dsl_dhs.choices import ReservationStatus
from dsl_dhs.models import Reservation
from dsl_dhs.services import reservation_consume, reservation_return
from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainNotFound,
    DomainPermissionDenied,
    DomainValidationError,
)
from releasemgmt.core.services import audit_record, record_save
from releases.choices import (
    HALTABLE_INSTALLATION_STATES,
    DistributionState,
    FailureConditionKind,
    InstallationMode,
    InstallationState,
    ItemKind,
    OverrideStatus,
    ReleaseState,
    ReportKind,
)
from releases.models import (
    AgentStatus,
    BackoutOverride,
    DeploymentReport,
    FreezeWindow,
    Release,
    ReleaseTarget,
)
from releases.services import alerts

IS = InstallationState
DS = DistributionState
HALTED_RELEASE_STATES = frozenset(
    {ReleaseState.BACKOUT_REQUIRED, ReleaseState.BACKING_OUT, ReleaseState.BACKED_OUT}
)


def _lifecycle():
    """The transition table and service, ``releases.services.lifecycle``. The table names the
    steps of this module, so it imports this module; the paths here that take transitions
    (reports, the watchdog, a met failure condition, back-out decisions, the emergency install)
    reach it when they run, not when this module is imported. When this module is split by
    concern, the steps and the paths that take transitions go to different modules and a plain
    import replaces this one."""
    from releases.services import lifecycle

    return lifecycle


# Freeze windows


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
    environments = set(
        release.targets.order_by().values_list("ci__environment", flat=True).distinct()
    )
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


# Distribution


def distribution_start(release: Release, by) -> None:
    """After ``distribute``: every target waits for its distribution report."""
    release.targets.update(distribution_state=DS.PENDING, distributed_at=None)


def install_freezes(release: Release) -> list[FreezeWindow]:
    """Freeze windows that apply to the release and overlap what is left of its installation
    window (none when it has no window): what refuses ``install`` now."""
    if release.installation_start is None or release.installation_end is None:
        return []
    return freezes_overlapping(
        max(timezone.now(), release.installation_start), release.installation_end, release=release
    )


def install_freeze_check(release: Release, *, by, reason: str, details: dict) -> None:
    """Guard of ``install``: installation may not start, nor be scheduled, inside a freeze window
    (409 naming it). An emergency install (``details["freeze_override"]``, see
    :func:`release_install_with_freeze_override`) is the exception: it needs a freeze that
    applies (409 otherwise), the freeze-override permission and a reason, and is audited."""
    if release.installation_start is None or release.installation_end is None:
        raise DomainConflict(f"{release.number} has no installation window.")
    frozen = install_freezes(release)
    if details.get("freeze_override"):
        if not frozen:
            raise DomainConflict(
                f"No freeze window applies to the installation window of {release.number}: "
                "install it without an emergency override.",
                extra={"state": release.state},
            )
        _require_freeze_override(by, reason, frozen, release)
        return
    if frozen:
        names = "; ".join(
            f"{w.reason} ({w.start:%Y-%m-%d %H:%M}–{w.end:%Y-%m-%d %H:%M} UTC)" for w in frozen
        )
        raise DomainConflict(
            f"The installation window of {release.number} overlaps a freeze: {names}. "
            "An emergency override needs the freeze-override permission and a reason.",
            extra={"freezes": [w.pk for w in frozen]},
        )


def installations_start(release: Release, by) -> None:
    """After ``install``: every pending target gets its installation plan."""
    schedule_installations(release)


def schedule_installations(release: Release, *, now: datetime | None = None) -> int:
    """Give every pending target its installation plan in bulk: due times in waves inside the
    window (scheduled mode), waiting for its login count (condition mode), or left for a manual
    trigger. One UPDATE per wave."""
    now = now or timezone.now()
    pending = release.targets.filter(installation_state=IS.PENDING)
    if release.installation_mode == InstallationMode.CONDITION:
        return pending.update(installation_state=IS.WAITING)
    if release.installation_mode == InstallationMode.MANUAL:
        return 0
    ids = list(pending.order_by("ci__identifier").values_list("pk", flat=True))
    size = release.wave_size or len(ids) or 1
    start = max(release.installation_start or now, now)
    for wave, first in enumerate(range(0, len(ids), size), start=1):
        due = start + timedelta(minutes=release.wave_interval_minutes * (wave - 1))
        ReleaseTarget.objects.filter(pk__in=ids[first : first + size]).update(
            installation_state=IS.SCHEDULED, due_at=due, wave=wave
        )
    return len(ids)


def installations_dispatch_due(*, now: datetime | None = None, limit: int = 2000) -> int:
    """The periodic picker: release due scheduled installations (and waiting ones whose target
    reports few enough logins) to run, unless a freeze window covers now. Rows are claimed with
    ``select_for_update(skip_locked=True)``, so two pickers never take the same target; agents
    see released work on their next poll."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            ReleaseTarget.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(release__state=ReleaseState.INSTALLING)
            .filter(
                Q(installation_state=IS.SCHEDULED, due_at__lte=now)
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
    *, target: ReleaseTarget, by, freeze_override_reason: str = ""
) -> ReleaseTarget:
    """Manual trigger: release one target's installation to run now — or run a failed one again
    (inside the window, outside freezes unless overridden with the permission and a reason). A
    retried target leaves the failure count; its new result counts instead."""
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
        _require_freeze_override(by, freeze_override_reason, frozen, release)
    if target.installation_state == IS.FAILED:
        _bump(release, count_install_failed=-1)
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
        after={"ci": target.ci.identifier},
        reason=freeze_override_reason,
    )
    return target


def _require_freeze_override(by, reason: str, frozen, release) -> None:
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


def release_install_with_freeze_override(*, release: Release, by, reason: str) -> Release:
    """``install`` while a freeze window applies to the release: an emergency. It is ``install``
    (through ``release_transition``: its permission, 403, its state, 409) whose freeze guard
    (:func:`install_freeze_check`) asks instead for a freeze that applies (409 when none does),
    the freeze-override permission (409 without) and a reason (400), and audits the override."""
    return _lifecycle().release_transition(
        release=release.pk, name="install", by=by, reason=reason, details={"freeze_override": True}
    )


# Reports from agents and deployment tools

# The release states in which a report of each kind is acted on (otherwise recorded only).
ACTING_STATES = {
    ReportKind.DISTRIBUTION: (
        ReleaseState.DISTRIBUTING,
        ReleaseState.DISTRIBUTED,
        ReleaseState.INSTALLING,
    ),
    ReportKind.INSTALLATION: (ReleaseState.INSTALLING,),
    ReportKind.BACKOUT: (ReleaseState.BACKING_OUT,),
}


class _ReleaseMoved(Exception):
    """The release does not act on the report (or stopped acting before the report took its
    lock): redo it the careful way."""


def target_report(
    *,
    target_id: int,
    kind: str,
    status: str,
    report_id: str,
    detail: str = "",
    by=None,
    ci_scope: str = "",
    release_number: str = "",
) -> tuple[DeploymentReport, bool]:
    """Record a distribution, installation or back-out result for one target and act on it.

    Idempotent on ``report_id`` (a repeat returns the first report, ``created=False``, no second
    effect). The release's counters move in the same transaction and the failure conditions are
    evaluated from them; crossing one moves the release to ``backout_required`` and halts every
    installation not yet started. A report that arrives after the halt is recorded but not acted
    on (409 with the reason). ``ci_scope`` (an agent token's CI) and ``release_number`` (what the
    reporter believes) are checked against the target: 403 when they do not match.

    Reports arrive at fleet rate and all of a release's reports meet on its row, so the common
    case holds that row's lock as briefly as possible: the target is locked and written and the
    report stored first, then the counters move in one UPDATE that also confirms the release is
    still in a state that acts on the report, and the transaction commits. Only a met condition
    or a completed stage does more under the lock. Should the release have moved in between (a
    halt racing the report), the whole attempt is rolled back and redone the careful way, with
    the release locked first."""
    if status not in ("succeeded", "failed", "in_transit", "running"):
        raise DomainValidationError(
            {"status": "Report succeeded or failed (or in_transit / running as progress)."}
        )
    if kind not in ACTING_STATES:
        raise DomainValidationError({"kind": f"Unknown report kind {kind!r}."})
    report_id = (report_id or "").strip()
    if not report_id:
        raise DomainValidationError(
            {"report_id": "Give a report_id so a repeated report has no second effect."}
        )
    arguments = dict(
        target_id=target_id,
        kind=kind,
        status=status,
        report_id=report_id,
        detail=detail[:5000],
        by=by,
        ci_scope=ci_scope,
        release_number=release_number,
    )
    try:
        return _report(**arguments, quick=True)
    except _ReleaseMoved:
        return _report(**arguments, quick=False)


def _report(
    *, target_id, kind, status, report_id, detail, by, ci_scope, release_number, quick: bool
) -> tuple[DeploymentReport, bool]:
    """One attempt. ``quick``: lock the target, then (last) the release; when the release does
    not act on the report, give up (:class:`_ReleaseMoved`) for the careful way, which locks the
    release first and then the target — the order of every path that moves targets while
    holding the release (approving a back-out, scheduling), so they never wait on each other."""
    with transaction.atomic():
        release = None
        if not quick:
            release_id = (
                ReleaseTarget.objects.filter(pk=target_id).values_list("release_id", flat=True)
            ).first()
            if release_id is None:
                raise DomainNotFound("No such release target.")
            release = Release.objects.select_for_update().get(pk=release_id)
        target = next(
            iter(
                ReleaseTarget.objects.select_for_update(of=("self",))
                .select_related("release", "ci")
                .only(*TARGET_FIELDS, *REPORT_RELEASE_FIELDS, "ci__identifier")
                .filter(pk=target_id)
                .order_by()  # one row by its key: no ORDER BY to build or run
            ),
            None,
        )
        if target is None:
            raise DomainNotFound("No such release target.")
        _check_reporter(target, ci_scope=ci_scope, release_number=release_number)
        now = timezone.now()
        report = DeploymentReport(
            target=target,
            kind=kind,
            report_id=report_id,
            status=status,
            detail=detail,
            reported_by=by,
            received_at=now,
        )
        if quick:
            if not _acts_on(target.release, target, kind):
                raise _ReleaseMoved
            first = _store(report)
            if first is not None:
                first.target = target
                return first, False
            _act_quickly(target, report, now)
            return report, True
        target.release = release  # the caller shows the target with its release
        report.acted = _acts_on(release, target, kind)
        first = _store(report)
        if first is not None:
            first.target = target
            return first, False
        refusal = _act(release, target, report, now)
    if refusal:
        raise DomainConflict(
            refusal, extra={"recorded": True, "report": report.pk, "state": release.state}
        )
    return report, True


def _store(report: DeploymentReport) -> DeploymentReport | None:
    """Insert the report, or return the first one with its ``report_id`` (unique per target and
    kind) — no second effect. The target is locked, so this is exact; the savepoint lets the
    transaction go on after a refused insert."""
    try:
        with transaction.atomic():
            report.save()
    except IntegrityError:
        return DeploymentReport.objects.get(
            target=report.target_id, kind=report.kind, report_id=report.report_id
        )
    return None


def ci_scope_check(ci_scope: str, identifier: str) -> None:
    """A token scoped to a CI (an agent's) acts for that CI only: 403 otherwise."""
    if ci_scope and ci_scope.lower() != identifier.lower():
        raise DomainPermissionDenied(f"This token may only act for {ci_scope}, not {identifier}.")


def _check_reporter(target: ReleaseTarget, *, ci_scope: str, release_number: str) -> None:
    ci_scope_check(ci_scope, target.ci.identifier)
    if release_number and release_number != target.release.number:
        raise DomainPermissionDenied(
            f"Target {target.pk} belongs to {target.release.number}, not {release_number}."
        )


def _acts_on(release: Release, target: ReleaseTarget, kind: str) -> bool:
    """Whether a report of this kind would be acted on, as far as the release (read without its
    lock) and the locked target tell."""
    if release.state not in ACTING_STATES[kind]:
        return False
    if kind == ReportKind.INSTALLATION:
        return target.installation_state != IS.HALTED
    if kind == ReportKind.BACKOUT:
        return target.installation_state == IS.BACKING_OUT
    return True


def _act_quickly(target: ReleaseTarget, report: DeploymentReport, now) -> None:
    """The common case: everything but the counters first, the release's lock last."""
    release = target.release  # read without its lock, only the fields below
    counters = _target_change(release, target, report, now)
    # Only a new failure or an ended window can make a declared condition true: after a success
    # the conditions hold exactly as they did, so they are not read (most reports are successes).
    if _may_meet_a_condition(release, counters, now):
        conditions = list(release.failure_conditions.all())  # frozen with the plan
    else:
        conditions = ()
    progress = _counters_move(release.pk, counters, states=ACTING_STATES[report.kind])
    if progress is None:
        raise _ReleaseMoved
    state = progress.pop("state")
    for name, value in progress.items():
        setattr(release, name, value)
    if state != release.state or _due(release, report.kind, now, conditions=conditions):
        # a condition is met or the stage is through: act on the whole row (locked already)
        target.release = Release.objects.get(pk=release.pk)
        due = _due(target.release, report.kind, now, conditions=conditions)
        if due:
            _decide(target.release, due, now)


def _may_meet_a_condition(release: Release, counters: dict, now) -> bool:
    return (
        counters.get("count_install_failed", 0) > 0
        or counters.get("count_distribution_failed", 0) > 0
        or (release.installation_end is not None and release.installation_end <= now)
    )


def _counters_move(release_id: int, counters: dict, *, states) -> dict | None:
    """Move the release's counters and read them back in one statement — only while the release
    is in one of ``states`` (else None). The statement takes the release's row lock, held from
    here to the commit that follows, and sees every report committed before it."""
    quote = connection.ops.quote_name
    assignments = [f"{quote(name)} = {quote(name)} + %s" for name in counters] or [
        f"{quote('count_targets')} = {quote('count_targets')}"  # still lock, still check
    ]
    # only quoted names from this module are formatted in; the values are parameters
    sql = (
        f"UPDATE {quote(Release._meta.db_table)} SET {', '.join(assignments)}"  # noqa: S608
        f" WHERE {quote('id')} = %s AND {quote('state')} IN ({', '.join(['%s'] * len(states))})"
        f" RETURNING {', '.join(quote(name) for name in PROGRESS_FIELDS)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*counters.values(), release_id, *states])
        row = cursor.fetchone()
    return dict(zip(PROGRESS_FIELDS, row, strict=True)) if row else None


def _act(release: Release, target: ReleaseTarget, report: DeploymentReport, now) -> str:
    """Apply a report to the target and the locked release; return why it was not acted on."""
    if not _acts_on(release, target, report.kind):
        target.last_report_at, target.detail = now, report.detail
        if (
            release.state in HALTED_RELEASE_STATES
            and target.installation_state in HALTABLE_INSTALLATION_STATES
        ):
            target.installation_state = IS.HALTED  # skipped by the halt while this report ran
        target.save(update_fields=["last_report_at", "detail", "installation_state"])
        state = release.get_state_display().lower()
        if report.kind == ReportKind.DISTRIBUTION:
            return f"{release.number} is {state}: distribution reports are recorded, not acted on."
        if report.kind == ReportKind.INSTALLATION:
            if release.state in HALTED_RELEASE_STATES or target.installation_state == IS.HALTED:
                return (
                    f"{release.number} is halted ({state}): the report is recorded, not acted on."
                )
            return f"{release.number} is {state}, not installing: the report is recorded, not acted on."
        return f"No back-out is running on {target.ci} for {release.number}: the report is recorded, not acted on."
    counters = _target_change(release, target, report, now)
    _bump(release, **counters)
    due = _due(release, report.kind, now)
    if due:
        _decide(release, due, now)
    return ""


def _bump(release: Release, **counters) -> None:
    """Move the counters of a release this transaction has locked, and the object in hand."""
    if counters:
        progress = _counters_move(release.pk, counters, states=(release.state,))
        for name in counters:
            setattr(release, name, progress[name])


@dataclass(frozen=True)
class _Stage:
    """How a target moves through distribution or installation, and the release's counters."""

    state: str  # the target's field
    at: str  # when it succeeded
    progress: tuple[str, str]  # the reported status that means "under way", and its state
    done: str
    failed: str
    done_counter: str
    failed_counter: str


_STAGES = {
    ReportKind.DISTRIBUTION: _Stage(
        "distribution_state",
        "distributed_at",
        ("in_transit", DS.IN_TRANSIT),
        DS.DELIVERED,
        DS.FAILED,
        "count_distributed",
        "count_distribution_failed",
    ),
    ReportKind.INSTALLATION: _Stage(
        "installation_state",
        "installed_at",
        ("running", IS.RUNNING),
        IS.SUCCEEDED,
        IS.FAILED,
        "count_installed",
        "count_install_failed",
    ),
}


def _stage_change(stage: _Stage, target: ReleaseTarget, status: str, now) -> dict:
    """Success counts once; a failure counts once and is taken back by a later success."""
    previous = getattr(target, stage.state)
    if status == stage.progress[0]:
        setattr(target, stage.state, stage.progress[1])
    elif status == "succeeded" and previous != stage.done:
        setattr(target, stage.state, stage.done)
        setattr(target, stage.at, now)
        return {
            stage.done_counter: 1,
            **({stage.failed_counter: -1} if previous == stage.failed else {}),
        }
    elif status == "failed" and previous not in (stage.failed, stage.done):
        setattr(target, stage.state, stage.failed)
        return {stage.failed_counter: 1}
    return {}


def _target_change(release: Release, target: ReleaseTarget, report: DeploymentReport, now) -> dict:
    """Move the target for the report and save it; return how the release's counters move."""
    target.last_report_at, target.detail = now, report.detail
    status = report.status
    counters = {}
    if report.kind in _STAGES:
        stage = _STAGES[report.kind]
        counters = _stage_change(stage, target, status, now)
        fields = [stage.state, stage.at]
    else:
        if status == "succeeded":
            target.installation_state, target.backed_out_at = IS.BACKED_OUT, now
            counters["count_backed_out"] = 1
        elif status == "failed":
            target.installation_state = IS.BACKOUT_FAILED
            counters["count_backout_failed"] = 1
            discrepancy_record(
                kind=ErrorKind.VERSION_MISMATCH,
                source=ErrorSource.AGENT_REPORT,
                subject=f"{target.ci}: back-out of {release.number} failed",
                expected="the version recorded before the release, restored",
                found=target.detail or "the back-out failed",
                ci=target.ci,
                reference=release.number,
                fingerprint=f"backout_failed:{release.number}:ci={target.ci_id}",
            )
        fields = ["installation_state", "backed_out_at"]
    target.save(update_fields=[*fields, "last_report_at", "detail"])
    return counters


def _due(release: Release, kind: str, now, *, conditions=None) -> tuple[str, str] | None:
    """What the counters call for after a report: ``("require_backout", <condition met>)``, or
    the transition that closes a stage every target is through, or nothing."""
    if kind == ReportKind.BACKOUT:
        if (
            release.state == ReleaseState.BACKING_OUT
            and not release.targets.filter(installation_state=IS.BACKING_OUT).exists()
        ):
            return "complete_backout", ""
        return None
    if release.state in CONDITION_STATES:
        met = met_condition(release, now=now, conditions=conditions)
        if met:
            return "require_backout", met
    if _stage_complete(release, kind):
        if kind == ReportKind.DISTRIBUTION:
            return "complete_distribution", ""
        return "complete_installation", ""
    return None


def _decide(release: Release, due: tuple[str, str], now) -> None:
    """Carry out what :func:`_due` found, on the locked release."""
    transition, condition = due
    if transition == "require_backout":
        require_backout(release, condition=condition, now=now)
        return
    details = {
        "complete_backout": {
            "restored": release.count_backed_out,
            "failed": release.count_backout_failed,
        },
        "complete_distribution": {"delivered": release.count_distributed},
        "complete_installation": {"installed": release.count_installed},
    }[transition]
    _lifecycle().take_transition(release, transition, by=None, details=details)


def _stage_complete(release: Release, kind: str) -> bool:
    if kind == ReportKind.DISTRIBUTION:
        return (
            release.state == ReleaseState.DISTRIBUTING
            and release.count_distributed >= release.count_targets
        )
    return (
        release.state == ReleaseState.INSTALLING
        and release.count_installed >= release.count_targets
    )


# Failure conditions

# The release states in which the failure conditions are watched.
CONDITION_STATES = (ReleaseState.DISTRIBUTING, ReleaseState.INSTALLING, ReleaseState.INSTALLED)


# What a report reads of its target and release, and reads back after moving the counters.
TARGET_FIELDS = tuple(field.name for field in ReleaseTarget._meta.concrete_fields)
REPORT_RELEASE_FIELDS = ("release__number", "release__state", "release__installation_end")
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


def figures(release: Release) -> dict:
    # count_targets is kept with the targets; they do not change while deploying (plan frozen)
    total = release.count_targets
    failed = release.count_install_failed + release.count_distribution_failed
    return {
        "targets": total,
        "distributed": release.count_distributed,
        "distribution_failed": release.count_distribution_failed,
        "installed": release.count_installed,
        "installation_failed": release.count_install_failed,
        "failure_rate_percent": round(100 * failed / total, 2) if total else 0.0,
    }


def met_condition(
    release: Release,
    *,
    now: datetime,
    signals: dict[str, str] | None = None,
    conditions=None,
) -> str | None:
    """The first declared failure condition that holds now (from the counters), as words."""
    numbers = figures(release)
    failed = numbers["installation_failed"] + numbers["distribution_failed"]
    if conditions is None:
        conditions = release.failure_conditions.all()
    for condition in conditions:
        if (
            condition.kind == FailureConditionKind.FAILURE_RATE_ABOVE
            and Decimal(str(numbers["failure_rate_percent"])) > condition.threshold
        ):
            return (
                f"failure rate {numbers['failure_rate_percent']}% is above {condition.threshold}%"
            )
        if (
            condition.kind == FailureConditionKind.FAILED_TARGETS_AT_LEAST
            and failed >= condition.threshold
        ):
            return f"{failed} targets failed (limit {condition.threshold:.0f})"
        if (
            condition.kind == FailureConditionKind.WINDOW_ENDED_WITH_PENDING
            and release.installation_end is not None
            and release.installation_end <= now
            and release.state in (ReleaseState.DISTRIBUTING, ReleaseState.INSTALLING)
            and numbers["installed"] < numbers["targets"]
        ):
            return f"the installation window ended with {numbers['targets'] - numbers['installed']} of {numbers['targets']} targets not installed"
        if condition.kind == FailureConditionKind.HEALTH_SIGNAL_FAILED and signals:
            name = condition.parameters.get("signal")
            if signals.get(name) == "failed":
                return f"health signal “{name}” failed"
    return None


def evaluate_failure_conditions(
    release: Release, *, now: datetime, signals: dict[str, str] | None = None, conditions=None
) -> bool:
    """Move the (locked) release to ``backout_required`` if a declared condition is met."""
    if release.state not in CONDITION_STATES:
        return False
    met = met_condition(release, now=now, signals=signals, conditions=conditions)
    if met is None:
        return False
    require_backout(release, condition=met, now=now)
    return True


def require_backout(release: Release, *, condition: str, now: datetime) -> Release:
    """The headline promise: halt every installation not yet started, record the condition and
    the figures, set the decision deadline — all in the caller's transaction — and, after the
    commit, alert ops (``alerts.backout_alert_enqueue``: e-mail and chat, by a worker)."""
    numbers = figures(release)
    # A target whose own report is in flight holds its row lock and waits for the release's,
    # which this transaction holds: waiting for it would deadlock. It is skipped here and halted
    # by that report instead, which finds the release halted (see _act).
    halting = (
        release.targets.filter(installation_state__in=HALTABLE_INSTALLATION_STATES)
        .select_for_update(skip_locked=True, of=("self",))
        .order_by()
        .values("pk")
    )  # one UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
    halted = ReleaseTarget.objects.filter(pk__in=halting).update(installation_state=IS.HALTED)
    release.backout_required_at = now
    release.backout_deadline = now + timedelta(minutes=release.backout_decision_minutes)
    release.backout_condition = condition[:300]
    release.backout_figures = {**numbers, "halted": halted}
    _lifecycle().take_transition(
        release,
        "require_backout",
        by=None,
        reason=f"Failure condition met: {condition}.",
        details={**numbers, "halted": halted},
    )
    alerts.backout_alert_enqueue(release.pk)
    return release


@transaction.atomic
def health_signal_report(
    *, release: Release, signal: str, status: str, by=None, detail: str = ""
) -> Release:
    """An external health check reports on a release; ``failed`` for a declared signal requires
    the back-out."""
    if status not in ("ok", "failed"):
        raise DomainValidationError({"status": "Report ok or failed."})
    release = Release.objects.select_for_update().get(pk=release.pk)
    audit_record(
        actor=by,
        action="release.health_signal",
        target=release,
        after={"signal": signal, "status": status},
        reason=detail,
    )
    evaluate_failure_conditions(release, now=timezone.now(), signals={signal: status})
    return release


# The watchdog


def watchdog(*, now: datetime | None = None) -> dict:
    """Periodic (≤ 60 s): catch what no report will — windows that ended with targets not
    installed — and start the back-out where the decision deadline passed unanswered. Each release
    in its own transaction, claimed with ``skip_locked``."""
    now = now or timezone.now()
    result = {"backout_required": 0, "backout_started": 0}
    candidates = list(
        Release.objects.filter(
            Q(
                state__in=[ReleaseState.DISTRIBUTING, ReleaseState.INSTALLING],
                installation_end__lte=now,
            )
            | Q(state=ReleaseState.BACKOUT_REQUIRED, backout_deadline__lte=now)
        ).values_list("pk", flat=True)
    )
    for release_id in candidates:
        with transaction.atomic():
            release = (
                Release.objects.select_for_update(skip_locked=True).filter(pk=release_id).first()
            )
            if release is None:
                continue
            if (
                release.state == ReleaseState.BACKOUT_REQUIRED
                and release.backout_deadline
                and release.backout_deadline <= now
            ):
                release.backout_started_automatically = True
                _lifecycle().take_transition(
                    release,
                    "approve_backout",
                    by=None,
                    reason="Nobody decided before the deadline: the back-out starts automatically.",
                )
                result["backout_started"] += 1
            elif evaluate_failure_conditions(release, now=now):
                result["backout_required"] += 1
    return result


# Back-out decision and execution


def backout_start(release: Release, by) -> None:
    """After ``approve_backout``: back out every target that had started or finished installing;
    the others never changed. DHS reservations go back to stock."""
    touched = release.targets.filter(installation_state__in=[IS.RUNNING, IS.SUCCEEDED, IS.FAILED])
    touched.update(installation_state=IS.BACKING_OUT)
    _return_reservations(release, by)


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
    targets are scheduled again) and the override is counted."""
    override = (
        BackoutOverride.objects.select_for_update().select_related("release").get(pk=override.pk)
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
    return _lifecycle().release_transition(
        release=override.release_id,
        name="override_backout",
        by=by,
        reason=f"Override requested by {override.requested_by.get_username()}: {override.reason}",
        details={"override": override.pk},
    )


def backout_override_confirmed_only(release: Release, *, by, reason: str, details: dict) -> None:
    """Guard of ``override_backout``: it is taken only by :func:`backout_override_confirm` — a
    second person confirming someone else's written request — never directly by one person."""
    if by is not None and not details.get("override"):
        raise DomainConflict(
            "An override needs two people: request it with a reason (POST /api/v1/releases/{id}/overrides/); "
            "another person with the override permission confirms it (POST /api/v1/overrides/{id}/confirm/).",
            extra={"state": release.state},
        )


def installations_resume(release: Release, by) -> None:
    """After ``override_backout``: halted targets are scheduled again."""
    release.targets.filter(installation_state=IS.HALTED).update(installation_state=IS.PENDING)
    schedule_installations(release)


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


# Agents


def agent_heartbeat(*, ci, login_count: int | None, agent_version: str = "") -> AgentStatus:
    status, _ = AgentStatus.objects.update_or_create(
        ci=ci,
        defaults={
            "last_seen": timezone.now(),
            "login_count": login_count,
            "agent_version": agent_version[:50],
        },
    )
    return status


__all__ = [
    "agent_heartbeat",
    "backout_override_confirm",
    "backout_override_request",
    "evaluate_failure_conditions",
    "freeze_applies_q",
    "freeze_window_create",
    "freezes_at",
    "health_signal_report",
    "installations_dispatch_due",
    "release_install_with_freeze_override",
    "schedule_installations",
    "target_install_now",
    "target_report",
    "watchdog",
]
