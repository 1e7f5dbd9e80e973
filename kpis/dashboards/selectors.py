"""Reads behind the dashboard cards: one function per card, each answering a dict for its
template. Every card costs a fixed number of queries whatever the history: counts are SQL
aggregates, lists are capped (``LIMIT``) and their related rows joined or prefetched.

Where a list page shows the same items, the card also gives that page's address with the
filters that select them (``url``), so the count on the card is the count on the list."""

from collections import defaultdict
from datetime import timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from cmdb.choices import ErrorCategory, LicenceMetric
from cmdb.models import Discrepancy, InstalledSoftware, Licence
from cmdb.selectors import licence_is_valid_on, licences_with_usage
from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import LicenceProduct, SoftwareVersion
from releasemgmt.core.services import SYSTEM_ACTOR
from releases.choices import (
    FINAL_STATES,
    InstallationState,
    OverrideStatus,
    ReleaseLevel,
    ReleaseState,
    RolloutTaskStatus,
    TestResult,
)
from releases.models import (
    BackoutOverride,
    BackoutStep,
    ChangeRequest,
    DeliveryAttention,
    DeliveryStatus,
    FailureCondition,
    FreezeWindow,
    Release,
    ReleaseItem,
    ReleaseTarget,
    ReleaseTransition,
    RolloutTask,
    TestScopeItem,
    UnitComponent,
    VerificationRun,
    WebhookDelivery,
)
from releases.selectors import backout_queue
from releases.services.deployment import freeze_applies_q

S = ReleaseState
IS = InstallationState
LIMIT = 10  # rows listed on a card; its count covers every row
MY_RELEASES_LIMIT = 15

LIVE_STATES = (S.DISTRIBUTING, S.INSTALLING)
# Not yet installing: an installation window in the next hours is still to come.
PRE_INSTALL_STATES = (
    S.REQUESTED,
    S.PLANNED,
    S.BUILT,
    S.TESTING,
    S.ACCEPTED,
    S.ROLLOUT_PLANNED,
    S.VERIFICATION_FAILED,
    S.VERIFIED,
    S.DISTRIBUTING,
    S.DISTRIBUTED,
)
READY_TO_INSTALL = frozenset({S.VERIFIED, S.DISTRIBUTING, S.DISTRIBUTED})
# Planned but not yet deployed: their new installations will take licence seats.
SEAT_TAKING_STATES = (
    S.PLANNED,
    S.BUILT,
    S.TESTING,
    S.ACCEPTED,
    S.ROLLOUT_PLANNED,
    S.VERIFICATION_FAILED,
    S.VERIFIED,
)
CANCELLED_CHANGE = Q(state__iexact="cancelled") | Q(state__iexact="canceled")
UNFINISHED_INSTALLATION = (IS.PENDING, IS.SCHEDULED, IS.WAITING, IS.RUNNING)
# (label, youngest age in days, oldest age in days): open errors by how long they are open.
AGE_BUCKETS = (
    ("< 1 day", None, 1),
    ("1–7 days", 1, 7),
    ("7–30 days", 7, 30),
    ("> 30 days", 30, None),
)


def _url(name: str, **params) -> str:
    """A list page's address with its filters (several values for a list: ``state=[...]``)."""
    path = reverse(name)
    return f"{path}?{urlencode(params, doseq=True)}" if params else path


def _count_per_release(queryset) -> Coalesce:
    """How many rows of ``queryset`` belong to the outer release: a subquery, so several counts
    on one release list join nothing and multiply nothing."""
    counted = (
        queryset.filter(release=OuterRef("pk"))
        .order_by()
        .values("release")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def stuck_after() -> timedelta:
    return timedelta(minutes=settings.DASHBOARD_STUCK_MINUTES)


def _quiet_since(last_report, state_changed_at, created_at):
    """When an installing release last showed a sign of life: its last target report, or when it
    started installing if that is later (or no target reported yet)."""
    started = state_changed_at or created_at
    return max(last_report, started) if last_report else started


# Ops


def backouts_waiting(*, now) -> dict:
    """Releases waiting for a back-out decision, soonest deadline first, with the open override
    request: the back-out queue's first section. Two queries."""
    releases = list(backout_queue().filter(state=S.BACKOUT_REQUIRED))
    return {
        "count": len(releases),
        "releases": releases,
        "url": reverse("releases:backout-queue"),
    }


def live_deployments(*, now) -> dict:
    """Releases distributing or installing, window ending soonest first, each with its progress
    (installed / failed / running of N), current wave and last target report. Two queries."""
    live = Release.objects.filter(state__in=LIVE_STATES)
    rows = list(
        live.select_related("release_unit")
        .annotate(
            running=Count("targets", filter=Q(targets__installation_state=IS.RUNNING)),
            current_wave=Min(
                "targets__wave", filter=Q(targets__installation_state__in=UNFINISHED_INSTALLATION)
            ),
            waves=Max("targets__wave"),
            last_report=Max("targets__last_report_at"),
        )
        .order_by(
            Case(
                When(state=S.INSTALLING, then=F("installation_end")),
                default=F("distribution_end"),
            ).asc(nulls_last=True),
            "pk",
        )[:LIMIT]
    )
    cutoff = now - stuck_after()
    for release in rows:
        release.quiet_since = _quiet_since(
            release.last_report, release.state_changed_at, release.created_at
        )
        release.is_stuck = release.state == S.INSTALLING and release.quiet_since < cutoff
        release.window_end = (
            release.installation_end if release.state == S.INSTALLING else release.distribution_end
        )
    return {
        "count": live.count(),
        "releases": rows,
        "url": _url("releases:release-list", state=list(LIVE_STATES)),
    }


def halts_and_automatic_backouts(*, now, days: int = 7) -> dict:
    """Halts (a failure condition met, from the releases' timelines) and releases whose back-out
    started by itself because nobody decided in time, in the last ``days`` days, with the newest
    of both events. Three queries."""
    since = now - timedelta(days=days)
    halts = ReleaseTransition.objects.filter(at__gte=since, name="require_backout").count()
    automatic = Release.objects.filter(
        backout_started_automatically=True, backout_decided_at__gte=since
    ).count()
    events = list(
        ReleaseTransition.objects.filter(at__gte=since)
        .filter(Q(name="require_backout") | Q(name="approve_backout", by_name=SYSTEM_ACTOR))
        .select_related("release")
        .order_by("-at", "-id")[:LIMIT]
    )
    return {
        "count": halts + automatic,
        "halts": halts,
        "automatic": automatic,
        "automatic_url": _url(
            "releases:release-list", backout_automatic="true", decided_after=since.isoformat()
        ),
        "events": events,
        "days": days,
    }


# Release manager


def stuck_releases(*, now) -> dict:
    """Releases installing with no target report for ``DASHBOARD_STUCK_MINUTES`` (counted from
    when installation started if no target has reported since). Two queries."""
    cutoff = now - stuck_after()
    started = Coalesce("state_changed_at", "created_at")
    stuck = (
        Release.objects.filter(state=S.INSTALLING)
        .annotate(last_report=Max("targets__last_report_at"))
        .annotate(quiet_since=Greatest(Coalesce("last_report", started), started))
        .filter(quiet_since__lt=cutoff)
    )
    rows = list(stuck.select_related("release_unit", "owner").order_by("quiet_since", "pk")[:LIMIT])
    for release in rows:
        release.quiet_minutes = int((now - release.quiet_since).total_seconds() // 60)
    return {
        "count": stuck.count(),
        "releases": rows,
        "minutes": settings.DASHBOARD_STUCK_MINUTES,
    }


def installations_due(*, now, hours: int = 48) -> dict:
    """Releases whose installation window opens in the next ``hours`` hours (or is open already)
    and that are not installing yet, soonest first; those not yet ready (before ``verified``)
    are marked. Two queries."""
    due = Release.objects.filter(
        state__in=PRE_INSTALL_STATES,
        installation_start__lt=now + timedelta(hours=hours),
        installation_end__gt=now,
    )
    rows = list(
        due.select_related("release_unit", "owner").order_by("installation_start", "pk")[:LIMIT]
    )
    for release in rows:
        release.is_ready = release.state in READY_TO_INSTALL
        release.window_open = release.installation_start <= now
    return {"count": due.count(), "releases": rows, "hours": hours}


def freeze_windows_coming(*, now, days: int = 14) -> dict:
    """Freeze windows in force now or starting in the next ``days`` days. Two queries."""
    windows = FreezeWindow.objects.filter(start__lt=now + timedelta(days=days), end__gt=now)
    rows = list(windows.select_related("release_unit").order_by("start", "pk")[:LIMIT])
    for window in rows:
        window.is_current = window.start <= now
    return {
        "count": windows.count(),
        "windows": rows,
        "days": days,
        "all_url": reverse("releases:freeze-window-list"),
    }


def licence_shortfalls(*, now) -> dict:
    """Licence products whose free seats planned releases would exhaust: for every release from
    ``planned`` to ``verified``, its new installations per licence product (targets that hold no
    seat of it yet, as verification counts them) against the free seats of that product's valid
    licences (``cmdb.selectors.licences_with_usage``). A product is listed when one release alone
    needs more than is free, or the planned releases together do. Four queries."""
    holds_seat = InstalledSoftware.objects.filter(
        ci_id=OuterRef("ci_id"),
        removed_at__isnull=True,
        licence__licence_product_id=OuterRef("licence_product_id"),
    )
    needs = list(
        ReleaseTarget.objects.filter(release__state__in=SEAT_TAKING_STATES)
        .annotate(
            licence_product_id=F("release__items__software_version__product__licence_product")
        )
        .filter(licence_product_id__isnull=False)
        .filter(~Exists(holds_seat))
        .values("release_id", "licence_product_id")
        .annotate(needed=Count("ci_id", distinct=True))
        .order_by()
    )
    if not needs:
        return {"count": 0, "products": []}
    product_ids = {row["licence_product_id"] for row in needs}
    today = timezone.localdate(now)
    licences = defaultdict(list)
    for licence in licences_with_usage(Licence.objects.filter(licence_product_id__in=product_ids)):
        if licence_is_valid_on(licence, today):
            licences[licence.licence_product_id].append(licence)
    releases = Release.objects.in_bulk({row["release_id"] for row in needs})
    products = LicenceProduct.objects.in_bulk(product_ids)
    by_product = defaultdict(list)
    for row in needs:
        by_product[row["licence_product_id"]].append((releases[row["release_id"]], row["needed"]))
    shortfalls = []
    for product_id, wanted in by_product.items():
        valid = licences[product_id]
        if any(licence.metric == LicenceMetric.SITE for licence in valid):
            continue
        free = sum(max(licence.seats - licence.seats_in_use, 0) for licence in valid)
        total = sum(needed for _, needed in wanted)
        if total <= free:
            continue
        wanted.sort(key=lambda pair: (-pair[1], pair[0].number))
        shortfalls.append(
            {
                "licence_product": products[product_id],
                "free": free,
                "has_licence": bool(valid),
                "needed": total,
                "releases": [
                    {"release": release, "needed": needed, "alone": needed > free}
                    for release, needed in wanted
                ],
                "url": _url("cmdb:licence-list", licence_product=product_id),
            }
        )
    shortfalls.sort(key=lambda s: (s["free"] - s["needed"], s["licence_product"].name))
    return {"count": len(shortfalls), "products": shortfalls}


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
            item_total=_count_per_release(ReleaseItem.objects.all()),
            target_total=_count_per_release(ReleaseTarget.objects.all()),
            backout_step_total=_count_per_release(BackoutStep.objects.all()),
            condition_total=_count_per_release(FailureCondition.objects.all()),
            change_total=_count_per_release(Release.change_requests.through.objects.all()),
            test_total=_count_per_release(TestScopeItem.objects.all()),
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
        "url": _url("releases:release-list", owner=user.get_username(), state=states),
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
        quiet = _quiet_since(release.last_report, release.state_changed_at, release.created_at)
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


# Change manager


def deliveries_needing_attention(*, now) -> dict:
    """Webhook deliveries waiting for triage, flagged for a person, and failed: three counts in
    one aggregate, and the newest of them. Two queries."""
    needing = Q(attention__in=[DeliveryAttention.TRIAGE, DeliveryAttention.FLAGGED]) | Q(
        status=DeliveryStatus.FAILED
    )
    counts = WebhookDelivery.objects.aggregate(
        triage=Count("pk", filter=Q(attention=DeliveryAttention.TRIAGE)),
        flagged=Count("pk", filter=Q(attention=DeliveryAttention.FLAGGED)),
        failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
    )
    rows = list(
        WebhookDelivery.objects.filter(needing)
        .select_related("source", "change_request")
        .defer("body", "headers")
        .order_by("-received_at", "-id")[:5]
    )
    groups = [
        ("triage", "Waiting for triage", _url("webhooks:delivery-list", attention="triage")),
        ("flagged", "Flagged for a person", _url("webhooks:delivery-list", attention="flagged")),
        ("failed", "Failed", _url("webhooks:delivery-list", status="failed")),
    ]
    return {
        "count": counts["triage"] + counts["flagged"] + counts["failed"],
        "groups": [
            {"key": key, "label": label, "count": counts[key], "url": url}
            for key, label, url in groups
        ],
        "deliveries": rows,
    }


def releases_of_cancelled_changes(*, now) -> dict:
    """Releases linked to a change request that was cancelled (state "cancelled" or "canceled",
    in any case) but not cancelled themselves, with those changes. Three queries."""
    cancelled = ChangeRequest.objects.filter(CANCELLED_CHANGE)
    links = Release.change_requests.through.objects.filter(
        release_id=OuterRef("pk"), changerequest__in=cancelled
    )
    found = Release.objects.exclude(state=S.CANCELLED).filter(Exists(links))
    rows = list(
        found.select_related("owner")
        .prefetch_related(
            Prefetch("change_requests", queryset=cancelled.order_by("number"), to_attr="cancelled")
        )
        .order_by("-created_at", "-id")[:LIMIT]
    )
    return {"count": found.count(), "releases": rows}


# Configuration manager


def open_errors_by_age(*, now) -> dict:
    """Open CMDB and licence errors by how long they have been open: one aggregate query. Each
    figure links to the error list filtered to the same category and detection times."""
    cells = {}
    for category in ErrorCategory.values:
        for index, (_, young, old) in enumerate(AGE_BUCKETS):
            condition = Q(category=category)
            if old is not None:
                condition &= Q(detected_at__gte=now - timedelta(days=old))
            if young is not None:
                condition &= Q(detected_at__lt=now - timedelta(days=young))
            cells[f"{category}_{index}"] = Count("pk", filter=condition)
    counts = Discrepancy.objects.filter(resolved_at__isnull=True).aggregate(**cells)
    categories = [
        {
            "category": category,
            "label": label,
            "count": sum(counts[f"{category}_{i}"] for i in range(len(AGE_BUCKETS))),
            "url": _url("cmdb:error-list", category=category, open="true"),
        }
        for category, label in ErrorCategory.choices
    ]
    rows = []
    for index, (bucket, young, old) in enumerate(AGE_BUCKETS):
        times = {}
        if old is not None:
            times["detected_after"] = (now - timedelta(days=old)).isoformat()
        if young is not None:
            times["detected_before"] = (now - timedelta(days=young)).isoformat()
        cells = [
            {
                "category": category,
                "count": counts[f"{category}_{index}"],
                "url": _url("cmdb:error-list", category=category, open="true", **times),
            }
            for category in ErrorCategory.values
        ]
        rows.append({"label": bucket, "cells": cells, "oldest": old is None})
    return {
        "count": sum(c["count"] for c in categories),
        "categories": categories,
        "rows": rows,
    }


def verification_failures(*, now) -> dict:
    """Releases in ``verification_failed`` with their latest run's figures, and the latest
    failed verification runs of any release. Three queries."""
    failed = Release.objects.filter(state=S.VERIFICATION_FAILED)
    latest = VerificationRun.objects.filter(release=OuterRef("pk")).order_by("-started_at", "-id")
    rows = list(
        failed.annotate(
            checks_failed=Subquery(latest.values("checks_failed")[:1]),
            checks_total=Subquery(latest.values("checks_total")[:1]),
        )
        .select_related("owner")
        .order_by(F("state_changed_at").desc(nulls_last=True), "-id")[:LIMIT]
    )
    runs = list(
        VerificationRun.objects.filter(passed=False)
        .select_related("release", "by")
        .order_by("-started_at", "-id")[:5]
    )
    return {
        "count": failed.count(),
        "releases": rows,
        "runs": runs,
        "url": _url("releases:release-list", state=S.VERIFICATION_FAILED),
    }


def quarantined_versions(*, now) -> dict:
    """DSL versions in quarantine, newest first, each with the open releases that carry it.
    Two queries."""
    quarantined = SoftwareVersion.objects.filter(status=VersionStatus.QUARANTINED)
    rows = list(
        quarantined.select_related("product")
        .annotate(
            open_releases=Count(
                "release_items__release",
                filter=~Q(release_items__release__state__in=FINAL_STATES),
                distinct=True,
            )
        )
        .order_by(F("status_changed_at").desc(nulls_last=True), "-id")[:LIMIT]
    )
    return {"count": quarantined.count(), "versions": rows}


def licences_near_exhaustion(*, now) -> dict:
    """Licences at or below their low-seat threshold (over-used ones included): the licence
    list's ``low`` filter. Two queries."""
    low = licences_with_usage().filter(is_low=True)
    rows = list(low.order_by("seats_free", "licence_product__name", "name", "pk")[:LIMIT])
    return {"count": low.count(), "licences": rows, "url": _url("cmdb:licence-list", low="true")}


# Auditor


def backout_overrides(*, now, days: int = 30) -> dict:
    """Back-out overrides requested in the last ``days`` days, newest first, with how many are
    awaiting confirmation, confirmed and withdrawn. Two queries."""
    since = now - timedelta(days=days)
    recent = BackoutOverride.objects.filter(requested_at__gte=since)
    counts = recent.aggregate(
        requested=Count("pk", filter=Q(status=OverrideStatus.REQUESTED)),
        confirmed=Count("pk", filter=Q(status=OverrideStatus.CONFIRMED)),
        withdrawn=Count("pk", filter=Q(status=OverrideStatus.WITHDRAWN)),
    )
    rows = list(
        recent.select_related("release", "requested_by", "confirmed_by").order_by(
            "-requested_at", "-id"
        )[:LIMIT]
    )
    return {
        "count": counts["requested"] + counts["confirmed"] + counts["withdrawn"],
        **counts,
        "overrides": rows,
        "days": days,
        "url": _url("releases:override-list", requested_after=since.isoformat()),
    }
