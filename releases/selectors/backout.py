"""Reads for the back-out decision: the queue with each release's progress, the top bar's badge
and the overrides."""

from django.db.models import Count, Min, Prefetch

from releases.choices import InstallationState, OverrideStatus, ReleaseState
from releases.models import BackoutOverride, Release, ReleaseTarget


def backout_queue():
    """Releases waiting for a back-out decision (soonest deadline first) and those backing out,
    with their open override request (``open_overrides``) and those withdrawn when the back-out
    started (``withdrawn_overrides``)."""
    return (
        Release.objects.filter(state__in=[ReleaseState.BACKOUT_REQUIRED, ReleaseState.BACKING_OUT])
        .select_related("release_unit", "owner")
        .prefetch_related(
            Prefetch(
                "overrides",
                queryset=BackoutOverride.objects.filter(
                    status=OverrideStatus.REQUESTED
                ).select_related("requested_by"),
                to_attr="open_overrides",
            ),
            Prefetch(
                "overrides",
                queryset=BackoutOverride.objects.filter(
                    status=OverrideStatus.WITHDRAWN
                ).select_related("requested_by"),
                to_attr="withdrawn_overrides",
            ),
        )
        .annotate(target_total=Count("targets"))
        .order_by("backout_deadline", "pk")
    )


def backout_waiting() -> dict:
    """The top bar's badge: how many releases wait for a back-out decision and the soonest
    deadline (``{"count": 0, "deadline": None}`` when none). One query."""
    return Release.objects.filter(state=ReleaseState.BACKOUT_REQUIRED).aggregate(
        count=Count("pk"), deadline=Min("backout_deadline")
    )


def override_list():
    """Back-out overrides with their release and the two people, newest first."""
    return BackoutOverride.objects.select_related(
        "release", "release__release_unit", "requested_by", "confirmed_by"
    ).order_by("-requested_at", "-pk")


def backout_queue_with_progress() -> list[Release]:
    """The back-out queue as the page and the API show it: ``backout_queue()`` with each
    release's ``progress`` (targets, installed, failed, halted, running, backing out, backed out,
    back-out failed, to restore and the share restored) from one grouped count. Four queries."""
    IS = InstallationState
    releases = list(backout_queue())
    counts: dict[int, dict[str, int]] = {}
    for release_id, state, n in (
        ReleaseTarget.objects.filter(release_id__in=[r.pk for r in releases])
        .values_list("release_id", "installation_state")
        .annotate(n=Count("id"))
        .values_list("release_id", "installation_state", "n")
        .order_by()
    ):
        counts.setdefault(release_id, {})[state] = n
    for release in releases:
        by_state = counts.get(release.pk, {})
        undo = sum(by_state.get(s, 0) for s in (IS.BACKING_OUT, IS.BACKED_OUT, IS.BACKOUT_FAILED))
        release.progress = {
            "targets": release.target_total,
            "installed": release.count_installed,
            "failed": release.count_install_failed + release.count_distribution_failed,
            "halted": by_state.get(IS.HALTED, 0),
            "running": by_state.get(IS.RUNNING, 0),
            "backing_out": by_state.get(IS.BACKING_OUT, 0),
            "backed_out": by_state.get(IS.BACKED_OUT, 0),
            "backout_failed": by_state.get(IS.BACKOUT_FAILED, 0),
            "to_restore": undo,
            "restored_percent": round(100 * by_state.get(IS.BACKED_OUT, 0) / undo, 1)
            if undo
            else 0,
        }
    return releases
