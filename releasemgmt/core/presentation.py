"""What every app's pages share: a page of a list, and telling an htmx swap (answered with a
fragment) from a visit or a history restore (answered with the whole page). A service's error on
a form is ``releasemgmt.core.forms``; an error as one sentence ``core.exceptions.error_text``.

Templates beside it: ``core/partials/_pagination.html`` (the pager under every list),
``core/partials/_field.html`` (every form field: label, widget, help text, errors; the field
template of ``releasemgmt.core.forms.FormRenderer``) and ``core/partials/_form_errors.html``."""

from django.core.paginator import Paginator
from django.db.models import QuerySet


def paginate(request, queryset, *, per_page: int, sizes: tuple[int, ...] = (), count=None) -> dict:
    """A page of ``queryset`` by ``?page=``, as the context the pagination partial reads: ``page``,
    ``page_size`` and ``page_sizes`` (its links keep the other GET parameters).

    ``?page_size=`` may pick one of ``sizes``; anything else gives ``per_page``. ``count``, when the
    view has counted already (an aggregate per state), saves the paginator its ``COUNT(*)``."""
    size = per_page
    if sizes:
        try:
            size = int(request.GET.get("page_size", per_page))
        except ValueError:
            size = per_page
        if size not in sizes:
            size = per_page
    paginator = Paginator(queryset, size)
    if count is not None:
        paginator.__dict__["count"] = count  # the cached_property, filled without a query
    page = paginator.get_page(request.GET.get("page"))
    if page.number > 1 and isinstance(page.object_list, QuerySet):
        page.object_list = _rows_after_offset(page.object_list, paginator.object_list)
    return {"page": page, "page_size": size, "page_sizes": sizes}


def _rows_after_offset(page_rows: QuerySet, rows: QuerySet) -> list:
    """The rows of a page further down a list: their ids first (the skipped rows are read from
    the sort's index and never joined), then the rows of those ids alone, with their joins and
    prefetches, in the list's order."""
    ids = list(page_rows.values_list("pk", flat=True))
    by_id = rows.in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id]


def htmx_swap(request) -> bool:
    """An htmx request that swaps a fragment into the page. A history restore (the back button
    after htmx pushed the URL, its snapshot gone) is not one: it wants the whole page, or the
    browser would show a bare fragment. Views answering both ways declare
    ``@vary_on_headers("HX-Request")`` so no cache serves one for the other."""
    return bool(request.htmx) and not request.htmx.history_restore_request
