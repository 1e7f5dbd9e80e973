"""A user's own releases and what blocks the next step of each."""

from collections import defaultdict
from functools import reduce
from operator import or_

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    When,
)

from dsl_dhs.choices import VersionStatus
from kpis.dashboards.selectors.common import (
    MY_RELEASES_LIMIT,
    S,
    count_per_release,
    list_url,
    quiet_since,
    stuck_after,
)
from releases.choices import (
    FINAL_STATES,
    ReleaseLevel,
    RolloutTaskStatus,
    TestResult,
)
from releases.models import (
    BackoutStep,
    FailureCondition,
    FreezeWindow,
    Release,
    ReleaseItem,
    ReleaseTarget,
    RolloutTask,
    TestScopeItem,
    UnitComponent,
    VerificationRun,
)
from releases.services.freezes import freeze_applies_q

# My releases and what blocks their next step

# The step each state waits for; a state missing here waits for something other than its owner.
NEXT_TRANSITION = {
    S.REQUESTED: "plan",
    S.PLANNED: "build",
    S.BUILT: "start_tests",
    S.TESTING: "accept",
    S.ACCEPTED: "plan_rollout",
    S.ROLLOUT_PLANNED: "verify",
    S.VERIFICATION_FAILED: "build",
    S.VERIFIED: "distribute",
    S.DISTRIBUTED: "install",
    S.INSTALLED: "review",
    S.REVIEWED: "close",
    S.BACKED_OUT: "close",
}


def my_releases(*, user, now) -> dict:
    """The user's releases that are not closed or cancelled — those waiting for a decision or a
    fix first, then by installation date — each with its next step and what blocks it. A fixed
    number of queries (at most eight) whatever the number of releases: counts are subqueries,
    the rows naming problems are prefetched, and the checks of ``Release.plan_problems`` & co.
    are answered from them (``next_step``)."""
    mine = Release.objects.filter(owner=user).exclude(state__in=FINAL_STATES)
    latest_run = VerificationRun.objects.filter(release=OuterRef("pk")).order_by(
        "-started_at", "-id"
    )
    rows = list(
        mine.select_related("release_unit")
        .annotate(
            item_total=count_per_release(ReleaseItem.objects.all()),
            target_total=count_per_release(ReleaseTarget.objects.all()),
            backout_step_total=count_per_release(BackoutStep.objects.all()),
            condition_total=count_per_release(FailureCondition.objects.all()),
            change_total=count_per_release(Release.change_requests.through.objects.all()),
            test_total=count_per_release(TestScopeItem.objects.all()),
            last_report=Subquery(
                ReleaseTarget.objects.filter(release=OuterRef("pk"), last_report_at__isnull=False)
                .order_by("-last_report_at")
                .values("last_report_at")[:1]
            ),
            verification_failed_checks=Subquery(latest_run.values("checks_failed")[:1]),
            urgent=Case(
                When(state__in=[S.BACKOUT_REQUIRED, S.VERIFICATION_FAILED], then=Value(0)),
                default=Value(1),
            ),
        )
        .prefetch_related(
            Prefetch(
                "items",
                queryset=ReleaseItem.objects.filter(
                    release__state__in=[S.PLANNED, S.VERIFICATION_FAILED],
                    software_version__isnull=False,
                )
                .exclude(software_version__status=VersionStatus.AUTHORISED)
                .select_related("software_version__product"),
                to_attr="unauthorised_items",
            ),
            Prefetch(
                "test_scope",
                queryset=TestScopeItem.objects.filter(release__state=S.TESTING).exclude(
                    result__in=[TestResult.PASSED, TestResult.WAIVED]
                ),
                to_attr="open_tests",
            ),
            Prefetch(
                "rollout_tasks",
                queryset=RolloutTask.objects.filter(
                    release__state=S.ROLLOUT_PLANNED, status=RolloutTaskStatus.PENDING
                ),
                to_attr="pending_tasks",
            ),
        )
        .order_by("urgent", F("installation_start").asc(nulls_last=True), "pk")[:MY_RELEASES_LIMIT]
    )
    missing = _missing_components(rows)
    freezes = _install_freezes(rows, now=now)
    cutoff = now - stuck_after()
    for release in rows:
        release.next_step = next_step(
            release,
            missing_components=missing.get(release.pk, []),
            freezes=freezes.get(release.pk, []),
            stuck_cutoff=cutoff,
        )
    states = [state for state in S.values if state not in FINAL_STATES]
    return {
        "count": mine.count(),
        "releases": rows,
        "url": list_url("releases:release-list", owner=user.get_username(), state=states),
    }


def _missing_components(releases) -> dict[int, list]:
    """For requested Full releases: the unit's components the contents do not carry (ordered as
    ``plan_problems`` names them). Two queries when there are any, none otherwise."""
    full = [
        r
        for r in releases
        if r.state == S.REQUESTED and r.level == ReleaseLevel.FULL and r.release_unit_id
    ]
    if not full:
        return {}
    carried = defaultdict(set)
    for release_id, product_id in ReleaseItem.objects.filter(
        release__in=full, software_version__isnull=False
    ).values_list("release_id", "software_version__product_id"):
        carried[release_id].add(product_id)
    components = defaultdict(list)
    for component in UnitComponent.objects.filter(
        unit_id__in={r.release_unit_id for r in full}
    ).select_related("product", "unit"):
        components[component.unit_id].append(component)
    return {
        r.pk: [c for c in components[r.release_unit_id] if c.product_id not in carried[r.pk]]
        for r in full
    }


def _install_freezes(releases, *, now) -> dict[int, list]:
    """For distributed releases: the freeze windows ``install`` would refuse — by the service's
    own rule (``freeze_applies_q``) over what is left of the installation window. One query for
    all of them (one yes/no column per release), none when there are none."""
    distributed = [
        r
        for r in releases
        if r.state == S.DISTRIBUTED and r.installation_start and r.installation_end
    ]
    if not distributed:
        return {}
    applies = {
        f"applies_{r.pk}": ExpressionWrapper(
            freeze_applies_q(
                release_unit_id=r.release_unit_id,
                environments=ReleaseTarget.objects.filter(release_id=r.pk).values(
                    "ci__environment"
                ),
            )
            & Q(start__lt=r.installation_end, end__gt=max(now, r.installation_start)),
            output_field=BooleanField(),
        )
        for r in distributed
    }
    windows = list(
        FreezeWindow.objects.annotate(**applies)
        .filter(reduce(or_, (Q(**{name: True}) for name in applies)))
        .order_by("start", "pk")
    )
    return {r.pk: [w for w in windows if getattr(w, f"applies_{r.pk}")] for r in distributed}


def plan_problems(release, missing_components=()) -> list[str]:
    """``Release.plan_problems`` answered from ``my_releases``' annotations (same words)."""
    problems = []
    if release.release_unit_id is None:
        problems.append("Choose the release unit (the service or application released).")
    if not release.item_total:
        problems.append("Add at least one item to the contents.")
    if not release.target_total:
        problems.append("Add at least one target CI.")
    if not (release.distribution_start and release.distribution_end):
        problems.append("Set the distribution window.")
    if not (release.installation_start and release.installation_end):
        problems.append("Set the installation window.")
    elif release.distribution_start and release.installation_start < release.distribution_start:
        problems.append("The installation window cannot start before distribution starts.")
    if not release.backout_step_total:
        problems.append("Write the back-out plan (at least one step).")
    if not release.condition_total:
        problems.append("Declare at least one failure condition.")
    if release.level == ReleaseLevel.PACKAGE and release.change_total < 2:
        problems.append("A Package release bundles several change requests: link at least two.")
    problems.extend(
        f"A Full release carries every component: {c.product} is missing."
        for c in missing_components
    )
    return problems


def next_step(release, *, missing_components=(), freezes=(), stuck_cutoff=None) -> dict:
    """What the release waits for: ``transition`` (the next step a person takes, or "" when it
    waits for agents or ops), ``blockers`` (what stops that step now, in the words the refusal
    would use) and ``waiting`` (what else it waits for)."""
    state = release.state
    blockers: list[str] = []
    waiting = ""
    if state == S.REQUESTED:
        blockers = plan_problems(release, missing_components)
    elif state in (S.PLANNED, S.VERIFICATION_FAILED):
        if state == S.VERIFICATION_FAILED:
            failed = release.verification_failed_checks or 0
            blockers.append(
                f"Verification found {failed} problem{'s' if failed != 1 else ''}: "
                "resolve them, then build again (or replan)."
            )
        blockers.extend(
            f"{item} is not an authorised DSL version." for item in release.unauthorised_items
        )
    elif state == S.TESTING:
        blockers = [
            f"{item.title}: {item.get_result_display().lower()}" for item in release.open_tests
        ]
        if not release.test_total:
            blockers.append("The test scope is empty: start the tests first.")
    elif state == S.ROLLOUT_PLANNED:
        blockers = [
            f"{task.get_kind_display()}: {task.description} is not done."
            for task in release.pending_tasks
        ]
    elif state == S.DISTRIBUTED:
        if not (release.installation_start and release.installation_end):
            blockers.append(f"{release.number} has no installation window.")
        elif freezes:
            names = "; ".join(
                f"{w.reason} ({w.start:%Y-%m-%d %H:%M}–{w.end:%Y-%m-%d %H:%M} UTC)" for w in freezes
            )
            blockers.append(f"The installation window overlaps a freeze: {names}.")
    elif state == S.DISTRIBUTING:
        waiting = (
            f"Distribution running: {release.count_distributed} of {release.count_targets} "
            f"delivered, {release.count_distribution_failed} failed."
        )
    elif state == S.INSTALLING:
        waiting = (
            f"Installing: {release.count_installed} of {release.count_targets} installed, "
            f"{release.count_install_failed} failed."
        )
        quiet = quiet_since(release.last_report, release.state_changed_at, release.created_at)
        if stuck_cutoff is not None and quiet < stuck_cutoff:
            blockers.append(
                f"No target has reported for {settings.DASHBOARD_STUCK_MINUTES} minutes or more."
            )
    elif state == S.BACKOUT_REQUIRED:
        waiting = "Ops decide: approve the back-out, or a second person confirms an override."
    elif state == S.BACKING_OUT:
        waiting = f"Backing out: {release.count_backed_out} targets restored so far."
    return {
        "transition": NEXT_TRANSITION.get(state, ""),
        "blockers": blockers,
        "waiting": waiting,
    }
