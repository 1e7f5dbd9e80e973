"""Failure conditions and the watchdog.

The release's counters are evaluated against its declared conditions (never a scan of all
targets). When a condition is met the release moves to ``backout_required`` at once and every
installation not yet started is halted — no "just two more minutes". The watchdog catches what no
report will (a window that ended with targets not installed) and starts the back-out where the
decision deadline passed unanswered."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from releasemgmt.core.exceptions import DomainValidationError
from releasemgmt.core.services import audit_record
from releases.choices import (
    HALTABLE_INSTALLATION_STATES,
    FailureConditionKind,
    InstallationState,
    ReleaseState,
)
from releases.models import Release, ReleaseTarget
from releases.services import alerts, lifecycle

IS = InstallationState


# The release states in which the failure conditions are watched.
CONDITION_STATES = (ReleaseState.DISTRIBUTING, ReleaseState.INSTALLING, ReleaseState.INSTALLED)


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
    # by that report instead, which finds the release halted (see ``reports._act``).
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
    lifecycle.take_transition(
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
                lifecycle.take_transition(
                    release,
                    "approve_backout",
                    by=None,
                    reason="Nobody decided before the deadline: the back-out starts automatically.",
                )
                result["backout_started"] += 1
            elif evaluate_failure_conditions(release, now=now):
                result["backout_required"] += 1
    return result
