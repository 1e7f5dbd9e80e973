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
    """Releases with the API's filters (state, level, unit, change, owner, search), "mine" (owned
    by the user), a count per state, sorting by column and pages, each row with its progress and
    health. A fixed number of queries whatever the number of rows."""
    data = _filter_data(request)
    filterset = ReleaseFilterSet(data or None, queryset=selectors.release_list())
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if filterset.is_bound and valid else filterset.queryset
    queryset, sort = selectors.release_list_sorted(queryset, request.GET.get("sort", ""))
    counting = ReleaseFilterSet(data or None, queryset=Release.objects.all())
    counts = selectors.release_state_counts(counting.qs if counting.is_bound and valid else None)
    total = sum(counts.values())
    pages = paginate(request, queryset, per_page=DEFAULT_PAGE_SIZE, sizes=PAGE_SIZES, count=total)
    selectors.attach_figures(pages["page"].object_list)
    selectors.attach_health(pages["page"].object_list)
    selected_states = set(request.GET.getlist("state"))
    context = {
        "filterset": filterset,
        **pages,
        "total": total,
        "mine": bool(request.GET.get("mine")),
        "sort": sort,
        "columns": _sort_links(request, sort),
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


def _filter_data(request):
    """The list's filters: the query string, with "mine" turned into the owner filter (so the
    API's filter set needs no field for it) and the sort left out."""
    data = request.GET.copy()
    for key in ("sort", "mine", "page", "page_size"):
        data.pop(key, None)
    if request.GET.get("mine"):
        data["owner"] = request.user.get_username()
    return data


# The sortable columns' headings, in table order.
SORT_COLUMNS = (
    ("number", "Release"),
    ("state", "State · level"),
    ("window", "Windows"),
    ("updated", "Updated"),
)


def _sort_links(request, sort: str) -> dict:
    """``{key: {"label", "url", "aria"}}`` for each sortable column: a click sorts by it
    ascending, a second click descending; other parameters are kept, the page reset."""
    links = {}
    for key, label in (*SORT_COLUMNS, ("title", "Title")):
        query = request.GET.copy()
        query.pop("page", None)
        query["sort"] = f"-{key}" if sort == key else key
        current = sort.removeprefix("-") == key
        links[key] = {
            "label": label,
            "url": f"?{query.urlencode()}",
            "aria": ("descending" if sort.startswith("-") else "ascending") if current else "",
        }
    return links


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
