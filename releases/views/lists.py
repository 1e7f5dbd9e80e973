"""The release list, the back-out override list and the pipeline board."""

from django.contrib.auth.decorators import permission_required
from django.shortcuts import render

from cmdb.choices import SERVICE_KINDS
from cmdb.models import ConfigurationItem
from releasemgmt.core.drill import drill_filters
from releasemgmt.core.presentation import paginate
from releases import selectors
from releases.choices import OverrideStatus, ReleaseLevel, ReleaseState
from releases.filtersets import BackoutOverrideFilterSet, ReleaseFilterSet
from releases.models import Release
from releases.views.common import DEFAULT_PAGE_SIZE, PAGE_SIZES


@permission_required("releases.view_release", raise_exception=True)
def release_list(request):
    """Releases with the API's filters (state, level, unit, change, owner, search), a count per
    state and pages. A fixed number of queries whatever the number of rows."""
    filterset = ReleaseFilterSet(request.GET or None, queryset=selectors.release_list())
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if filterset.is_bound and valid else filterset.queryset
    counting = ReleaseFilterSet(request.GET or None, queryset=Release.objects.all())
    counts = selectors.release_state_counts(counting.qs if counting.is_bound and valid else None)
    total = sum(counts.values())
    pages = paginate(request, queryset, per_page=DEFAULT_PAGE_SIZE, sizes=PAGE_SIZES, count=total)
    selected_states = set(request.GET.getlist("state"))
    context = {
        "filterset": filterset,
        **pages,
        "total": total,
        "state_counts": [
            (state.value, state.label, counts.get(state.value, 0))
            for state in ReleaseState
            if counts.get(state.value)
        ],
        "states": [
            (state.value, state.label, state.value in selected_states) for state in ReleaseState
        ],
        "selected_state_count": len(selected_states),
        "levels": ReleaseLevel.choices,
        "units": ConfigurationItem.objects.filter(kind__in=SERVICE_KINDS)
        .order_by("identifier")
        .values_list("id", "identifier"),
        "drill_filters": drill_filters(request, RELEASE_DRILL_FILTERS),
    }
    return render(request, "releases/release_list.html", context, status=200 if valid else 400)


# Filters the list has no control for; they arrive from the KPI page and the dashboards.
RELEASE_DRILL_FILTERS = (
    "outcome",
    "environment",
    "category",
    "ended_after",
    "ended_before",
    "decided_after",
    "decided_before",
    "backout_automatic",
)


@permission_required("releases.view_backoutoverride", raise_exception=True)
def override_list(request):
    """Back-out overrides: who asked to continue, why, and who confirmed — the list behind the
    KPI page's override counts. A fixed number of queries whatever the number of rows."""
    filterset = BackoutOverrideFilterSet(request.GET or None, queryset=selectors.override_list())
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if filterset.is_bound and valid else filterset.queryset
    total = queryset.count()
    pages = paginate(request, queryset, per_page=DEFAULT_PAGE_SIZE, sizes=PAGE_SIZES, count=total)
    context = {
        "filterset": filterset,
        **pages,
        "total": total,
        "statuses": OverrideStatus.choices,
        "drill_filters": drill_filters(request, OVERRIDE_DRILL_FILTERS),
    }
    return render(request, "releases/override_list.html", context, status=200 if valid else 400)


OVERRIDE_DRILL_FILTERS = (
    "environment",
    "level",
    "unit",
    "category",
    "requested_after",
    "requested_before",
    "confirmed_after",
    "confirmed_before",
)


@permission_required("releases.view_release", raise_exception=True)
def pipeline(request):
    """The board: one column per open state with its count and cards."""
    return render(request, "releases/pipeline.html", {"columns": selectors.pipeline()})


@permission_required("releases.view_release", raise_exception=True)
def pipeline_board(request):
    """The board alone, refreshed by htmx every 30 seconds."""
    return render(request, "releases/partials/_pipeline.html", {"columns": selectors.pipeline()})
