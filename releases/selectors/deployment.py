"""Reads for deployment: an agent's work, a release's progress and what happens next while it
installs."""

from django.db.models import Count, Min, Prefetch, Q

from releases.choices import (
    DistributionState,
    InstallationMode,
    InstallationState,
    ItemKind,
    OverrideStatus,
    ReleaseState,
)
from releases.models import BackoutOverride, Release, ReleaseItem, ReleaseTarget

DOWNLOAD_STATES = (ReleaseState.DISTRIBUTING, ReleaseState.DISTRIBUTED, ReleaseState.INSTALLING)


def agent_work(ci) -> dict[str, list[ReleaseTarget]]:
    """What is due for one target: downloads (distribution not yet delivered), installations
    released by the picker, back-outs approved. Three queries whatever the amount of work."""
    targets = list(
        ReleaseTarget.objects.filter(ci=ci)
        .filter(
            Q(
                release__state__in=DOWNLOAD_STATES,
                distribution_state__in=[DistributionState.PENDING, DistributionState.IN_TRANSIT],
            )
            | Q(
                release__state=ReleaseState.INSTALLING, installation_state=InstallationState.RUNNING
            )
            | Q(
                release__state=ReleaseState.BACKING_OUT,
                installation_state=InstallationState.BACKING_OUT,
            )
        )
        .select_related("release")
        .prefetch_related(
            Prefetch(
                "release__items",
                queryset=ReleaseItem.objects.filter(kind=ItemKind.SOFTWARE).select_related(
                    "software_version__product", "restore_version__product", "replaces_version"
                ),
            )
        )
    )
    work = {"downloads": [], "installations": [], "backouts": []}
    for target in targets:
        state = target.release.state
        if state in DOWNLOAD_STATES and target.distribution_state in (
            DistributionState.PENDING,
            DistributionState.IN_TRANSIT,
        ):
            work["downloads"].append(target)
        if (
            state == ReleaseState.INSTALLING
            and target.installation_state == InstallationState.RUNNING
        ):
            work["installations"].append(target)
        if (
            state == ReleaseState.BACKING_OUT
            and target.installation_state == InstallationState.BACKING_OUT
        ):
            work["backouts"].append(target)
    return work


def release_progress(release: Release) -> dict:
    """x of N per stage, from the counters and one grouped query over the targets."""
    by_install = dict(
        release.targets.order_by()  # no join to the CIs (the targets' default order)
        .values_list("installation_state")
        .annotate(n=Count("id"))
        .values_list("installation_state", "n")
    )
    total = sum(by_install.values())
    return {
        "targets": total,
        "distributed": release.count_distributed,
        "distribution_failed": release.count_distribution_failed,
        "installed": release.count_installed,
        "installation_failed": release.count_install_failed,
        "halted": by_install.get(InstallationState.HALTED, 0),
        "running": by_install.get(InstallationState.RUNNING, 0),
        "scheduled": by_install.get(InstallationState.SCHEDULED, 0)
        + by_install.get(InstallationState.WAITING, 0),
        "backing_out": by_install.get(InstallationState.BACKING_OUT, 0),
        "backed_out": release.count_backed_out,
        "backout_failed": release.count_backout_failed,
        "by_installation_state": by_install,
    }


def installation_outlook(release: Release, progress: dict) -> dict | None:
    """What happens next while the release installs (``None`` otherwise), from its ``progress``
    (``release_progress``) and two small queries: the override it resumed after, if any; how
    many run, are scheduled (with the next due wave), wait for their users to log off or for a
    manual trigger, and have failed (they run again only when retried); and whether nothing
    more happens by itself."""
    if release.state != ReleaseState.INSTALLING:
        return None
    by_state = progress["by_installation_state"]
    IS = InstallationState
    override = None
    if release.backout_required_at is not None:  # back in `installing` only through an override
        override = (
            BackoutOverride.objects.filter(release=release, status=OverrideStatus.CONFIRMED)
            .select_related("requested_by", "confirmed_by")
            .order_by("-confirmed_at", "-pk")
            .first()
        )
    scheduled = by_state.get(IS.SCHEDULED, 0)
    upcoming = (
        release.targets.filter(installation_state=IS.SCHEDULED).aggregate(
            due=Min("due_at"), wave=Min("wave")
        )
        if scheduled
        else {"due": None, "wave": None}
    )
    pending = by_state.get(IS.PENDING, 0)
    outlook = {
        "override": override,
        "running": by_state.get(IS.RUNNING, 0),
        "scheduled": scheduled,
        "next_due": upcoming["due"],
        "next_wave": upcoming["wave"],
        "waiting": by_state.get(IS.WAITING, 0),
        "manual": pending if release.installation_mode == InstallationMode.MANUAL else 0,
        "failed": by_state.get(IS.FAILED, 0),
        "window_end": release.installation_end,
    }
    outlook["stalled"] = not any(
        outlook[key] for key in ("running", "scheduled", "waiting", "manual")
    )
    return outlook
