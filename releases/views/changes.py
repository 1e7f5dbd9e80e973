"""Change requests: the list and one change with its releases."""

import json

from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, render

from releasemgmt.core.presentation import paginate
from releases import selectors
from releases.filtersets import ChangeRequestFilterSet
from releases.models import ChangeRequest
from releases.views.common import DEFAULT_PAGE_SIZE


@permission_required("releases.view_changerequest", raise_exception=True)
def change_list(request):
    filterset = ChangeRequestFilterSet(
        request.GET or None, queryset=selectors.change_request_list()
    )
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if filterset.is_bound and valid else filterset.queryset
    return render(
        request,
        "releases/change_list.html",
        {"filterset": filterset, **paginate(request, queryset, per_page=DEFAULT_PAGE_SIZE)},
        status=200 if valid else 400,
    )


@permission_required("releases.view_changerequest", raise_exception=True)
def change_detail(request, pk):
    change = get_object_or_404(ChangeRequest, pk=pk)
    releases = list(selectors.release_list().filter(change_requests=change))
    selectors.attach_figures(releases)
    context = {
        "change": change,
        "releases": releases,
        "raw_json": json.dumps(change.raw, indent=2, ensure_ascii=False, default=str),
    }
    return render(request, "releases/change_detail.html", context)
