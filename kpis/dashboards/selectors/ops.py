"""Ops: back-outs waiting for a decision, live deployments, halts and automatic back-outs."""

from datetime import timedelta

from django.db.models import (
    Case,
    Count,
    F,
    Max,
    Min,
    Q,
    When,
)
from django.urls import reverse

from kpis.dashboards.selectors.common import (
    IS,
    LIMIT,
    LIVE_STATES,
    UNFINISHED_INSTALLATION,
    S,
    list_url,
    quiet_since,
    stuck_after,
)
from releasemgmt.core.services import SYSTEM_ACTOR
from releases.models import (
    Release,
    ReleaseTarget,
    ReleaseTransition,
)
from releases.selectors import backout_queue


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
    (installed / failed / running of N), current wave and last target report. Three queries: the
    figures are aggregated over the targets of the listed releases only."""
    live = Release.objects.filter(state__in=LIVE_STATES)
    rows = list(
        live.select_related("release_unit").order_by(
            Case(
                When(state=S.INSTALLING, then=F("installation_end")),
                default=F("distribution_end"),
            ).asc(nulls_last=True),
            "pk",
        )[:LIMIT]
    )
    figures = {
        row["release_id"]: row
        for row in ReleaseTarget.objects.filter(release__in=[r.pk for r in rows])
        .order_by()
        .values("release_id")
        .annotate(
            running=Count("pk", filter=Q(installation_state=IS.RUNNING)),
            current_wave=Min("wave", filter=Q(installation_state__in=UNFINISHED_INSTALLATION)),
            waves=Max("wave"),
            last_report=Max("last_report_at"),
        )
    }
    for release in rows:
        row = figures.get(release.pk, {})
        release.running = row.get("running", 0)
        release.current_wave = row.get("current_wave")
        release.waves = row.get("waves")
        release.last_report = row.get("last_report")
    cutoff = now - stuck_after()
    for release in rows:
        release.quiet_since = quiet_since(
            release.last_report, release.state_changed_at, release.created_at
        )
        release.is_stuck = release.state == S.INSTALLING and release.quiet_since < cutoff
        release.window_end = (
            release.installation_end if release.state == S.INSTALLING else release.distribution_end
        )
    return {
        "count": live.count(),
        "releases": rows,
        "url": list_url("releases:release-list", state=list(LIVE_STATES)),
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
        "automatic_url": list_url(
            "releases:release-list", backout_automatic="true", decided_after=since.isoformat()
        ),
        "events": events,
        "days": days,
    }
