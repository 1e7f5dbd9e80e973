"""Reads for deployment: an agent's work and a release's progress."""

from django.db.models import Count, Prefetch, Q

from releases.choices import (
    DistributionState,
    InstallationState,
    ItemKind,
    ReleaseState,
)
from releases.models import Release, ReleaseItem, ReleaseTarget

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
        release.targets.values_list("installation_state")
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
