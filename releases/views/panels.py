"""The release page's panels, also drawn on their own by their refreshes and pages: the
deployment card (progress and the per-target table), the latest verification run's summary
and the back-out decision panel."""

import math

from django.core.paginator import Paginator
from django.http import QueryDict
from django.utils import timezone

from releases import selectors
from releases.choices import (
    DistributionState,
    InstallationMode,
    InstallationState,
    OverrideStatus,
    ReleaseState,
)
from releases.forms import ApproveBackoutForm, OverrideRequestForm, TargetFilterForm
from releases.models import FreezeWindow, Release, ReleaseTarget
from releases.services import freezes, policies

# The deployment card.

S = ReleaseState
IS = InstallationState
# From verification on, the release page shows the deployment card.
DEPLOYMENT_STATES = frozenset(
    {
        S.VERIFIED,
        S.DISTRIBUTING,
        S.DISTRIBUTED,
        S.INSTALLING,
        S.INSTALLED,
        S.REVIEWED,
        S.CLOSED,
        S.BACKOUT_REQUIRED,
        S.BACKING_OUT,
        S.BACKED_OUT,
    }
)
# States in which the figures move by themselves (agents, the picker, the watchdog): refreshed.
LIVE_STATES = frozenset(
    {
        S.VERIFIED,
        S.DISTRIBUTING,
        S.DISTRIBUTED,
        S.INSTALLING,
        S.INSTALLED,
        S.BACKOUT_REQUIRED,
        S.BACKING_OUT,
    }
)
BACKOUT_STATES = frozenset({S.BACKOUT_REQUIRED, S.BACKING_OUT, S.BACKED_OUT})
# A failed one runs again as a new attempt ("Retry").
INSTALLABLE_NOW = frozenset({IS.PENDING, IS.SCHEDULED, IS.WAITING, IS.FAILED})
TARGETS_PER_PAGE = 50
TARGET_QUERY_KEYS = ("state", "distribution", "page")


def install_freezes(release: Release) -> list[FreezeWindow]:
    """Freezes that would refuse ``install`` now (only asked while the release is distributed):
    while there are any, and only then, the emergency install is offered."""
    if release.state != S.DISTRIBUTED:
        return []
    return freezes.install_freezes(release)


def retry_form(release: Release, user) -> dict | None:
    """The "Retry failed targets" form, for those who may start installations while the release
    installs; during a freeze only for those who may override it, with a reason; outside the
    installation window with a confirmation and a reason, unless the category refuses it."""
    if release.state != S.INSTALLING or not user.has_perm("releases.deploy_release"):
        return None
    frozen = bool(freezes.freezes_at(timezone.now(), release=release))
    if frozen and not user.has_perm("releases.override_freeze"):
        return None
    outside = policies.window_problem(release, "install_now")
    if outside and policies.refuses_outside_window(release):
        return None
    return {"needs_reason": frozen, "outside_window": outside}


def target_query(params) -> str:
    """The table's filter and page as a query string, from known keys only."""
    query = QueryDict(mutable=True)
    for key in TARGET_QUERY_KEYS:
        value = params.get(key, "")
        if value:
            query[key] = value
    return query.urlencode()


def _progress_bars(release: Release, progress: dict) -> list[dict]:
    """One bar per stage with ``x of N``; the back-out rows once a back-out is in play."""
    total = progress["targets"]
    rows = [
        ("distributed", "Distributed", progress["distributed"], "ok"),
        ("installed", "Installed", progress["installed"], "ok"),
        ("failed", "Installation failed", progress["installation_failed"], "bad"),
        ("distribution_failed", "Distribution failed", progress["distribution_failed"], "bad"),
        ("running", "Running", progress["running"], "info"),
        ("scheduled", "Scheduled or waiting", progress["scheduled"], "neutral"),
        ("halted", "Halted", progress["halted"], "warn"),
        ("backing_out", "Backing out", progress["backing_out"], "warn"),
        ("backed_out", "Backed out", progress["backed_out"], "neutral"),
        ("backout_failed", "Back-out failed", progress["backout_failed"], "bad"),
    ]
    always = {"distributed", "installed", "failed"}
    if release.state in BACKOUT_STATES:
        always |= {"halted", "backing_out", "backed_out"}
    elif release.state == S.INSTALLING:
        always |= {"running", "scheduled"}
    return [
        {
            "key": key,
            "label": label,
            "n": n,
            "total": total,
            "percent": round(100 * n / total, 1) if total else 0,
            "tone": tone,
        }
        for key, label, n, tone in rows
        if key in always or n
    ]


def _plan_summary(release: Release, total: int) -> dict:
    waves = None
    if release.installation_mode == InstallationMode.SCHEDULED:
        size = release.wave_size or total or 1
        waves = math.ceil(total / size) if total else 0
    return {"waves": waves, "total": total}


def deployment_card(request, release: Release, params) -> dict | None:
    """The deployment card: progress from the counters and one grouped query, and a page of the
    per-target table (CI joined). A fixed number of queries whatever the number of targets."""
    if release.state not in DEPLOYMENT_STATES:
        return None
    progress = selectors.release_progress(release)
    filters = TargetFilterForm(params)
    filters.is_valid()
    state = filters.cleaned_data.get("state", "")
    distribution = filters.cleaned_data.get("distribution", "")
    targets = (
        ReleaseTarget.objects.filter(release=release)
        .select_related("ci")
        .order_by("wave", "ci__identifier", "pk")
    )
    if state:
        targets = targets.filter(installation_state=state)
    if distribution:
        targets = targets.filter(distribution_state=distribution)
    paginator = Paginator(targets, TARGETS_PER_PAGE)
    if not distribution:  # counted already by the grouped query: no COUNT(*)
        counts = progress["by_installation_state"]
        paginator.__dict__["count"] = counts.get(state, 0) if state else progress["targets"]
    page = paginator.get_page(params.get("page"))
    user = request.user
    can_install_now = release.state == S.INSTALLING and user.has_perm("releases.deploy_release")
    freezes_now = freezes.freezes_at(timezone.now(), release=release) if can_install_now else []
    # "install now" outside the installation window asks for a confirmation (or is refused)
    outside = policies.window_problem(release, "install_now") if can_install_now else None
    filter_query = target_query({"state": state, "distribution": distribution})
    return {
        "progress": progress,
        "bars": _progress_bars(release, progress),
        "plan": _plan_summary(release, progress["targets"]),
        "filters": filters,
        "state_options": [
            (value, label, progress["by_installation_state"].get(value, 0))
            for value, label in InstallationState.choices
        ],
        "distribution_options": DistributionState.choices,
        "state": state,
        "distribution": distribution,
        "page": page,
        "query": target_query({"state": state, "distribution": distribution, "page": page.number}),
        "filter_query": filter_query,
        "live": release.state in LIVE_STATES,
        "can_install_now": can_install_now,
        "installable": INSTALLABLE_NOW,
        "freezes_now": freezes_now,
        "can_override_freeze": bool(freezes_now) and user.has_perm("releases.override_freeze"),
        "outside_window": outside,
        "outside_window_refused": bool(outside) and policies.refuses_outside_window(release),
    }


# What the release waits for while the agents work.

# States in which nobody has a step to take: the agents download or install, and the release
# moves on by itself (complete_distribution, complete_installation) or halts.
AGENT_STAGES = {
    S.DISTRIBUTING: ("distributed", "downloads the package, checks its SHA-256", "Distributed"),
    S.INSTALLING: ("installed", "installs when its turn is due", "Installed"),
}


def agents_waiting(release: Release, deployment: dict | None) -> dict | None:
    """While the release waits for the agents (distributing, installing): how many targets are
    through (``x of N``), how many failed and what comes next. None in every other state."""
    stage = AGENT_STAGES.get(release.state)
    if stage is None or deployment is None:
        return None
    key, verb, next_state = stage
    progress = deployment["progress"]
    failed = progress["distribution_failed" if key == "distributed" else "installation_failed"]
    return {
        "done": progress[key],
        "failed": failed,
        "total": progress["targets"],
        "noun": key,
        "verb": verb,
        "next_state": next_state,
        "reported": progress[key] + failed > 0,
    }


# The latest verification run.


def verification_summary(release: Release) -> dict | None:
    """The latest verification run with its failed checks (at most 10) for the release page."""
    run = release.verification_runs.select_related("by").first()
    if run is None:
        return None
    failed = list(
        run.checks.filter(ok=False).select_related("discrepancy").order_by("kind", "id")[:10]
    )
    return {"run": run, "failed": failed}


# The back-out decision panel.


def attach_decision(release: Release, forms: dict | None = None) -> None:
    """Give a release in the back-out family what its decision panel shows: the open override
    (if ``backout_queue`` did not prefetch it) and the approve/override forms (bound ones that
    failed, or fresh)."""
    forms = forms or {}
    if not hasattr(release, "open_overrides"):
        release.open_overrides = list(
            release.overrides.filter(status=OverrideStatus.REQUESTED).select_related("requested_by")
        )
    release.open_override = release.open_overrides[0] if release.open_overrides else None
    release.approve_form = forms.get("approve") or ApproveBackoutForm(
        prefix=f"approve-{release.pk}"
    )
    release.override_form = forms.get("override") or OverrideRequestForm(
        prefix=f"override-{release.pk}"
    )
