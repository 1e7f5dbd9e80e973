"""CMDB pages: the CI browser, licences with their seats, and the error lists. Thin: forms parse,
the services decide, the selectors read."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from cmdb import selectors, services
from cmdb.choices import CIStatus, ErrorCategory, LicenceMetric
from cmdb.filtersets import ConfigurationItemFilterSet, DiscrepancyFilterSet, LicenceFilterSet
from cmdb.forms import (
    ConfigurationItemForm,
    InstalledSoftwareForm,
    LicenceForm,
    RelationshipForm,
    ResolveForm,
    RetireForm,
)
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from releasemgmt.core.drill import drill_filters
from releasemgmt.core.exceptions import DomainError, DomainValidationError, error_text
from releasemgmt.core.presentation import htmx_swap, paginate

PAGE_SIZES = (25, 50, 100, 200, 500)
DEFAULT_PAGE_SIZE = 50


def _filtered(filterset):
    """The filtered queryset: everything when no filter is given, nothing when one is invalid
    (the page then says which and answers 400)."""
    if not filterset.is_bound:
        return filterset.queryset
    return filterset.qs if filterset.is_valid() else filterset.queryset.none()


# Configuration items.


@permission_required("cmdb.view_configurationitem", raise_exception=True)
def ci_list(request):
    """CIs with filters (kind, class, status, environment, location), search and pages."""
    filterset = ConfigurationItemFilterSet(request.GET or None, queryset=selectors.ci_list())
    queryset = _filtered(filterset)
    counts = selectors.ci_status_counts(queryset)
    total = sum(counts.values())
    pages = paginate(request, queryset, per_page=DEFAULT_PAGE_SIZE, sizes=PAGE_SIZES, count=total)
    context = {
        "filterset": filterset,
        **pages,
        "total": total,
        "status_counts": [
            (value, label, counts.get(value, 0)) for value, label in CIStatus.choices
        ],
    }
    return render(request, "cmdb/ci_list.html", context, status=400 if filterset.errors else 200)


@permission_required("cmdb.view_configurationitem", raise_exception=True)
def ci_detail(request, pk):
    limit = None if request.GET.get("history") == "all" else selectors.HISTORY_ON_PAGE
    try:
        detail = selectors.ci_detail(pk, history_limit=limit)
    except ConfigurationItem.DoesNotExist:
        raise Http404("No such configuration item.") from None
    return render(
        request,
        "cmdb/ci_detail.html",
        {
            "detail": detail,
            "ci": detail.ci,
            "retire_form": RetireForm(),
            "relationship_form": RelationshipForm(),
            "software_form": InstalledSoftwareForm(),
        },
    )


def _ci_form_page(request, form, ci=None, status=200):
    return render(request, "cmdb/ci_form.html", {"form": form, "ci": ci}, status=status)


@permission_required("cmdb.add_configurationitem", raise_exception=True)
def ci_create(request):
    form = ConfigurationItemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ci = services.ci_create(by=request.user, **form.service_fields())
        except DomainValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"{ci} created.")
            return redirect("cmdb:ci-detail", pk=ci.pk)
    return _ci_form_page(request, form, status=400 if form.errors else 200)


@permission_required("cmdb.change_configurationitem", raise_exception=True)
def ci_edit(request, pk):
    ci = get_object_or_404(ConfigurationItem, pk=pk)
    form = ConfigurationItemForm(request.POST or None, instance=ci)
    if request.method == "POST" and form.is_valid():
        try:
            services.ci_update(
                ci=ci,
                by=request.user,
                reason=request.POST.get("reason", "").strip(),
                **form.service_fields(),
            )
        except DomainValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"{ci.identifier} saved.")
            return redirect("cmdb:ci-detail", pk=ci.pk)
    ci.refresh_from_db()  # the form may have changed the instance in memory
    return _ci_form_page(request, form, ci=ci, status=400 if form.errors else 200)


@require_POST
@permission_required("cmdb.change_configurationitem", raise_exception=True)
def ci_retire(request, pk):
    ci = get_object_or_404(ConfigurationItem, pk=pk)
    form = RetireForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the configuration item is retired.")
    else:
        try:
            services.ci_retire(ci=ci, by=request.user, reason=form.cleaned_data["reason"])
            messages.success(request, f"{ci} retired.")
        except DomainError as error:
            messages.error(request, error_text(error))
    return redirect("cmdb:ci-detail", pk=ci.pk)


@require_POST
@permission_required("cmdb.add_relationship", raise_exception=True)
def relationship_add(request, pk):
    ci = get_object_or_404(ConfigurationItem, pk=pk)
    form = RelationshipForm(request.POST)
    if form.is_valid():
        try:
            relationship = services.relationship_create(
                by=request.user, **form.relationship_for(ci)
            )
            messages.success(request, f"Added: {relationship}.")
            return redirect("cmdb:ci-detail", pk=ci.pk)
        except DomainError as error:
            form.add_error("other", error_text(error))
    detail = selectors.ci_detail(ci.pk)
    return render(
        request,
        "cmdb/ci_detail.html",
        {
            "detail": detail,
            "ci": detail.ci,
            "retire_form": RetireForm(),
            "relationship_form": form,
            "software_form": InstalledSoftwareForm(),
        },
        status=400,
    )


@require_POST
@permission_required("cmdb.delete_relationship", raise_exception=True)
def relationship_remove(request, pk):
    relationship = get_object_or_404(Relationship.objects.select_related("source"), pk=pk)
    back = request.POST.get("ci") or relationship.source_id
    label = str(relationship)
    services.relationship_delete(relationship=relationship, by=request.user)
    messages.success(request, f"Removed: {label}.")
    return redirect("cmdb:ci-detail", pk=back)


@require_POST
@permission_required("cmdb.add_installedsoftware", raise_exception=True)
def software_record(request, pk):
    ci = get_object_or_404(ConfigurationItem, pk=pk)
    form = InstalledSoftwareForm(request.POST)
    if form.is_valid():
        try:
            row = services.installed_software_record(
                ci=ci,
                version=form.cleaned_data["version"],
                licence=form.cleaned_data["licence"],
                source_reference=form.cleaned_data["source_reference"],
                by=request.user,
            )
            note = f" using {row.licence}" if row.licence else ""
            messages.success(request, f"Recorded {row.version} on {ci}{note}.")
            return redirect("cmdb:ci-detail", pk=ci.pk)
        except DomainError as error:
            form.add_error(
                "licence" if "licence" in str(error.message) else None, error_text(error)
            )
    detail = selectors.ci_detail(ci.pk)
    return render(
        request,
        "cmdb/ci_detail.html",
        {
            "detail": detail,
            "ci": detail.ci,
            "retire_form": RetireForm(),
            "relationship_form": RelationshipForm(),
            "software_form": form,
        },
        status=400,
    )


@require_POST
@permission_required("cmdb.change_installedsoftware", raise_exception=True)
def software_remove(request, pk):
    row = get_object_or_404(InstalledSoftware.objects.select_related("version__product"), pk=pk)
    services.installed_software_remove(installation=row, by=request.user)
    messages.success(request, f"Recorded the removal of {row.version}.")
    return redirect("cmdb:ci-detail", pk=row.ci_id)


# Licences.


def seats_bar(licence) -> dict:
    """Widths (percent) and state of a licence's seats bar."""
    if licence.metric == LicenceMetric.SITE:
        return {"state": "site", "used": 100, "threshold": None, "over_by": 0}
    seats = licence.seats or 0
    if seats:
        used = min(100.0, licence.seats_in_use * 100 / seats)
        threshold = (
            max(0.0, (seats - licence.low_seat_threshold) * 100 / seats)
            if licence.low_seat_threshold
            else None
        )
    else:
        used, threshold = (100.0 if licence.seats_in_use else 0.0), None
    return {
        "state": "over" if licence.is_over else "low" if licence.is_low else "ok",
        "used": round(used, 1),
        "threshold": threshold,
        "over_by": max(0, licence.seats_in_use - seats),
    }


@permission_required("cmdb.view_licence", raise_exception=True)
def licence_list(request):
    filterset = LicenceFilterSet(request.GET or None, queryset=selectors.licences_with_usage())
    queryset = _filtered(filterset)
    pages = paginate(request, queryset, per_page=DEFAULT_PAGE_SIZE, sizes=PAGE_SIZES)
    rows = [(licence, seats_bar(licence)) for licence in pages["page"].object_list]
    return render(
        request,
        "cmdb/licence_list.html",
        {
            "filterset": filterset,
            **pages,
            "rows": rows,
        },
        status=400 if filterset.errors else 200,
    )


@permission_required("cmdb.view_licence", raise_exception=True)
def licence_detail(request, pk):
    licence = get_object_or_404(selectors.licences_with_usage(), pk=pk)
    installations = selectors.licence_installations(licence)
    pages = paginate(request, installations, per_page=DEFAULT_PAGE_SIZE, sizes=PAGE_SIZES)
    errors = selectors.discrepancy_list(
        Discrepancy.objects.filter(licence=licence, resolved_at__isnull=True)
    )
    return render(
        request,
        "cmdb/licence_detail.html",
        {
            "licence": licence,
            "bar": seats_bar(licence),
            **pages,
            "open_errors": errors,
        },
    )


def _licence_form_page(request, form, licence=None):
    return render(
        request,
        "cmdb/licence_form.html",
        {"form": form, "licence": licence},
        status=400 if form.errors else 200,
    )


@permission_required("cmdb.add_licence", raise_exception=True)
def licence_create(request):
    form = LicenceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            licence = services.licence_create(by=request.user, **form.cleaned_data)
        except DomainValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Licence “{licence}” created.")
            return redirect("cmdb:licence-detail", pk=licence.pk)
    return _licence_form_page(request, form)


@permission_required("cmdb.change_licence", raise_exception=True)
def licence_edit(request, pk):
    licence = get_object_or_404(Licence, pk=pk)
    form = LicenceForm(request.POST or None, instance=licence)
    if request.method == "POST" and form.is_valid():
        try:
            services.licence_update(licence=licence, by=request.user, **form.cleaned_data)
        except DomainValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Licence “{licence}” saved.")
            return redirect("cmdb:licence-detail", pk=licence.pk)
    licence.refresh_from_db()
    return _licence_form_page(request, form, licence)


# Errors.


def _open_counts() -> list[tuple[str, str, int]]:
    counts = selectors.discrepancy_open_counts()
    return [(value, label, counts[value]) for value, label in ErrorCategory.choices]


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return ""


@permission_required("cmdb.view_discrepancy", raise_exception=True)
def error_list(request):
    """CMDB and licence errors, open ones first by default, with open counts per category."""
    params = request.GET.copy()
    if "open" not in params:
        params["open"] = "true"  # what needs doing; "Any" shows resolved ones too
    filterset = DiscrepancyFilterSet(params, queryset=selectors.discrepancy_list())
    queryset = _filtered(filterset)
    search = request.GET.get("search", "").strip()
    if search:
        queryset = queryset.filter(
            Q(subject__icontains=search)
            | Q(found__icontains=search)
            | Q(reference__icontains=search)
        )
    pages = paginate(request, queryset, per_page=DEFAULT_PAGE_SIZE, sizes=PAGE_SIZES)
    return render(
        request,
        "cmdb/error_list.html",
        {
            "filterset": filterset,
            **pages,
            "search": search,
            "open_counts": _open_counts(),
            "drill_filters": drill_filters(
                request, ("detected_after", "detected_before", "environment")
            ),
        },
        status=400 if filterset.errors else 200,
    )


@permission_required("cmdb.view_discrepancy", raise_exception=True)
def error_row(request, pk):
    """One row of the error list (htmx: the "Cancel" of an inline resolve form)."""
    record = get_object_or_404(selectors.discrepancy_list(), pk=pk)
    return render(request, "cmdb/partials/_error_row.html", {"record": record})


@vary_on_headers("HX-Request")
@permission_required("cmdb.resolve_discrepancy", raise_exception=True)
def error_resolve(request, pk):
    """Resolve an error with a note: inline in the list with htmx (the row is swapped), or as a
    small page without script."""
    record = get_object_or_404(selectors.discrepancy_list(), pk=pk)
    htmx = htmx_swap(request)
    if htmx and request.method == "GET" and not record.is_open:
        # resolved meanwhile by someone else: show the row as it now is
        return render(request, "cmdb/partials/_error_row.html", {"record": record})
    form = ResolveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            record = services.discrepancy_resolve(
                discrepancy=record, by=request.user, resolution=form.cleaned_data["resolution"]
            )
        except DomainError as error:
            form.add_error("resolution", error_text(error))
        else:
            record = selectors.discrepancy_list().get(pk=record.pk)
            if htmx:
                # the row, and the open counts at the top of the page (out of band)
                return render(
                    request,
                    "cmdb/partials/_error_resolved.html",
                    {"record": record, "open_counts": _open_counts(), "oob": True},
                )
            messages.success(request, f"Resolved: {record}.")
            return redirect(_safe_next(request) or reverse("cmdb:error-list"))
    template = "cmdb/partials/_resolve_row.html" if htmx else "cmdb/error_resolve.html"
    status = 400 if form.errors else 200
    if htmx and status == 400:
        status = 200  # htmx swaps only 2xx answers; the form shows its error inline
    return render(
        request,
        template,
        {"record": record, "form": form, "next": _safe_next(request)},
        status=status,
    )
