"""Reports from agents and deployment tools: a distribution, installation or back-out result for
one target, recorded once and acted on.

Per-target work is bulk; every report updates the release's counters in the same transaction and
evaluates the failure conditions from them (never a scan of all targets per report). A met
condition moves the release to ``backout_required`` (``failure_conditions.require_backout``); a
stage every target is through is completed by its system transition."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from cmdb.choices import ErrorKind, ErrorSource
from cmdb.services.discrepancies import discrepancy_record
from releasemgmt.core.db import insert_once, reuse_plans
from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainNotFound,
    DomainPermissionDenied,
    DomainValidationError,
)
from releases.choices import (
    HALTABLE_INSTALLATION_STATES,
    DistributionState,
    InstallationState,
    ReleaseState,
    ReportKind,
)
from releases.models import DeploymentReport, Release, ReleaseTarget
from releases.services import installation, lifecycle, report_rows
from releases.services.agents import ci_scope_check
from releases.services.failure_conditions import CONDITION_STATES, met_condition, require_backout

IS = InstallationState
DS = DistributionState
HALTED_RELEASE_STATES = frozenset(
    {ReleaseState.BACKOUT_REQUIRED, ReleaseState.BACKING_OUT, ReleaseState.BACKED_OUT}
)


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
        reuse_plans()  # the same statements for every report: one plan each
        release = None
        if not quick:
            release_id = (
                ReleaseTarget.objects.filter(pk=target_id).values_list("release_id", flat=True)
            ).first()
            if release_id is None:
                raise DomainNotFound("No such release target.")
            release = Release.objects.select_for_update().get(pk=release_id)
        target = report_rows.target_locked(target_id)
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
            at_once = kind in _STAGES and report_rows.writes_at_once()
            if at_once:
                first = _act_quickly(target, report, now, store=True)
            else:
                first = _store(report)
                if first is None:
                    _act_quickly(target, report, now)
            if first is not None:
                # a repeat: ``at_once`` moved the target in memory before the statement found it
                first.target = report_rows.target_locked(target_id) if at_once else target
                return first, False
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
    kind) — no second effect. The target is locked, so this is exact."""
    if insert_once(report, report_rows.REPORT_UNIQUE):
        return None
    return _first(report)


def _first(report: DeploymentReport) -> DeploymentReport:
    """The report stored first with this one's ``report_id``."""
    return DeploymentReport.objects.get(
        target=report.target_id, kind=report.kind, report_id=report.report_id
    )


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


def _act_quickly(
    target: ReleaseTarget, report: DeploymentReport, now, *, store: bool = False
) -> DeploymentReport | None:
    """The common case: everything but the counters first, the release's lock last.

    ``store`` (a distribution or installation report, on PostgreSQL): the report is not stored
    yet, and storing it, moving the target and moving the counters are one statement; returns the
    first report when this one is a repeat (then nothing was written)."""
    release = target.release  # read without its lock, only the fields below
    if store:
        names, counters = _target_moves(release, target, report, now)
    else:
        counters = _target_change(release, target, report, now)
    # Only a new failure or an ended window can make a declared condition true: after a success
    # the conditions hold exactly as they did, so they are not read (most reports are successes).
    if _may_meet_a_condition(release, counters, now):
        conditions = list(release.failure_conditions.all())  # frozen with the plan
    else:
        conditions = ()
    states = ACTING_STATES[report.kind]
    if store:
        stored, progress = report_rows.report_write(report, target, names, counters, states=states)
        if not stored:
            return _first(report)
    else:
        progress = installation.counters_move(release.pk, counters, states=states)
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
    return None


def _may_meet_a_condition(release: Release, counters: dict, now) -> bool:
    return (
        counters.get("count_install_failed", 0) > 0
        or counters.get("count_distribution_failed", 0) > 0
        or (release.installation_end is not None and release.installation_end <= now)
    )


def _act(release: Release, target: ReleaseTarget, report: DeploymentReport, now) -> str:
    """Apply a report to the target and the locked release; return why it was not acted on."""
    if not _acts_on(release, target, report.kind):
        if _records_late(release, target, report.kind):
            # The target did what it reports: it shows it, and the counters (the figures of the
            # queue and the dashboards) with it. The halted release decides nothing from it.
            installation.counters_bump(release, **_target_change(release, target, report, now))
        else:
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
    installation.counters_bump(release, **counters)
    due = _due(release, report.kind, now)
    if due:
        _decide(release, due, now)
    return ""


# A target that had started when its release halted: what it reports afterwards is recorded on it.
_LATE_INSTALLATION_STATES = (IS.RUNNING, IS.FAILED, IS.SUCCEEDED)


def _records_late(release: Release, target: ReleaseTarget, kind: str) -> bool:
    """Whether a report the halted release does not act on still moves its target: a result of
    a distribution, or of an installation that had started, while ops decide. Once the back-out
    runs its targets are the back-out's."""
    if release.state != ReleaseState.BACKOUT_REQUIRED or kind not in _STAGES:
        return False
    return kind == ReportKind.DISTRIBUTION or target.installation_state in _LATE_INSTALLATION_STATES


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
    names, counters = _target_moves(release, target, report, now)
    report_rows.target_write(target, names)
    return counters


def _target_moves(
    release: Release, target: ReleaseTarget, report: DeploymentReport, now
) -> tuple[list[str], dict]:
    """Move the target for the report in memory; return the fields to write and how the
    release's counters move."""
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
    return [*fields, "last_report_at", "detail"], counters


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
    lifecycle.take_transition(release, transition, by=None, details=details)


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
