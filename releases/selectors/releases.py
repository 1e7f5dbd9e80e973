"""Reads of releases: lists, the pipeline, a release with everything its page shows, the
baseline diff. Each costs a fixed number of queries whatever the number of rows."""

from django.db.models import Count, Prefetch, QuerySet

from releases.choices import FINAL_STATES, ItemKind, ReleaseState
from releases.models import ChangeRequest, Release, ReleaseItem, ReleaseTransition, TestScopeItem
from releases.services.levels import release_baseline


def release_list() -> QuerySet:
    return (
        Release.objects.select_related("release_unit", "owner", "category")
        .prefetch_related(
            Prefetch(
                "change_requests", queryset=ChangeRequest.objects.only("id", "number", "title")
            )
        )
        .annotate(
            item_count=Count("items", distinct=True), target_count=Count("targets", distinct=True)
        )
        .order_by("-created_at", "-id")
    )


def release_detail(pk: int, *, with_targets: bool = True) -> Release:
    """One release with its contents, targets, plan, tests, tasks, changes and timeline."""
    return (
        Release.objects.select_related(
            "release_unit", "owner", "category", "created_by", "implementation_review"
        )
        .prefetch_related(
            Prefetch(
                "items",
                queryset=ReleaseItem.objects.select_related(
                    "software_version__product",
                    "replaces_version",
                    "restore_version",
                    "hardware_model",
                    "change_request",
                ),
            ),
            *(["targets__ci"] if with_targets else []),
            "failure_conditions",
            "backout_steps",
            Prefetch(
                "test_scope", queryset=TestScopeItem.objects.select_related("signed_off_by", "item")
            ),
            "rollout_tasks__done_by",
            "change_requests",
            Prefetch(
                "transitions",
                queryset=ReleaseTransition.objects.select_related("by").order_by("at", "id"),
            ),
        )
        .get(pk=pk)
    )


def baseline_diff(release: Release) -> list[dict]:
    """The contents against the unit's baseline: one row per product, with what the baseline
    has, what the release brings and whether it changed (``new``, ``changed``, ``unchanged``)."""
    baseline = release_baseline(release.release_unit_id, exclude_release_id=release.pk)
    rows = []
    for item in release.items.all():
        if item.kind != ItemKind.SOFTWARE:
            rows.append(
                {
                    "product": str(item.hardware_model),
                    "baseline": None,
                    "release": f"{item.quantity} unit(s)",
                    "status": "hardware",
                    "item": item,
                }
            )
            continue
        version = item.software_version
        before = baseline.get(version.product_id)
        status = "new" if before is None else ("unchanged" if before == version else "changed")
        rows.append(
            {
                "product": version.product.name,
                "baseline": before.version if before else None,
                "release": version.version,
                "status": status,
                "item": item,
            }
        )
    return rows


def release_state_counts(queryset: QuerySet | None = None) -> dict[str, int]:
    """``{state: number of releases}`` of ``queryset`` (every release by default), states with
    none left out. One query, counted on the bare rows: a list's annotations would join items
    and targets."""
    queryset = Release.objects.all() if queryset is None else queryset
    return dict(
        queryset.order_by()
        .values_list("state")
        .annotate(n=Count("id", distinct=True))
        .values_list("state", "n")
    )


def pipeline(*, limit_per_state: int = 20) -> list[dict]:
    """The board: one column per non-final state with its count and newest releases."""
    counts = release_state_counts()
    open_releases = list(
        Release.objects.exclude(state__in=FINAL_STATES)
        .select_related("release_unit", "owner")
        .order_by("-state_changed_at", "-created_at")
    )
    columns = []
    for state in ReleaseState:
        if state in FINAL_STATES:
            continue
        in_state = [r for r in open_releases if r.state == state][:limit_per_state]
        columns.append(
            {
                "state": state.value,
                "label": state.label,
                "count": counts.get(state.value, 0),
                "releases": in_state,
            }
        )
    return columns


def change_request_list() -> QuerySet:
    return ChangeRequest.objects.annotate(release_count=Count("releases")).order_by(
        "-created_at", "-id"
    )
