"""Pages of the DSL and DHS. Thin: a form or a filterset parses the input, one service or
selector does the work, a template renders it. They call the same services as the API."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from dsl_dhs import selectors, services
from dsl_dhs.choices import VERSION_STATUS_CHANGES, ReservationStatus, VersionStatus
from dsl_dhs.filtersets import ReservationFilterSet, SoftwareProductFilterSet, StockFilterSet
from dsl_dhs.forms import (
    ArtefactForm,
    ReservationCloseForm,
    ReservationForm,
    SoftwareProductForm,
    StatusChangeForm,
    StockAdjustForm,
    VersionUploadForm,
)
from dsl_dhs.models import Reservation, SoftwareProduct, SoftwareVersion, Stock
from releasemgmt.core.exceptions import DomainError, error_text
from releasemgmt.core.forms import add_service_errors
from releasemgmt.core.presentation import htmx_swap, paginate

PAGE_SIZE = 50
# Multipart framing around the file; the file's own bytes are counted exactly while hashing.
MULTIPART_ALLOWANCE = 1024 * 1024
STATUS_ACTIONS = {
    VersionStatus.AUTHORISED: ("Authorise", False),
    VersionStatus.QUARANTINED: ("Quarantine", True),
    VersionStatus.RETIRED: ("Retire", True),
}


# Definitive Software Library


@vary_on_headers("HX-Request")
@permission_required("dsl_dhs.view_softwareproduct", raise_exception=True)
def product_list(request):
    """Products with their licence product, number of versions and newest authorised version;
    searchable (live with htmx, or a plain GET form)."""
    filterset = SoftwareProductFilterSet(request.GET, queryset=selectors.software_products())
    pages = paginate(request, filterset.qs.order_by("name"), per_page=PAGE_SIZE)
    context = {"filterset": filterset, **pages}
    if htmx_swap(request):
        return render(request, "dsl_dhs/partials/_product_table.html", context)
    return render(request, "dsl_dhs/product_list.html", context)


def _product_form_page(request, product: SoftwareProduct | None):
    initial = {}
    if product is not None:
        initial = {
            "name": product.name,
            "vendor": product.vendor,
            "licence_product": product.licence_product,
            "description": product.description,
        }
    form = SoftwareProductForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if product is None:
                product = services.software_product_create(by=request.user, **form.cleaned_data)
                messages.success(request, f"Product “{product}” created.")
            else:
                product = services.software_product_update(
                    product=product, by=request.user, **form.cleaned_data
                )
                messages.success(request, f"Product “{product}” saved.")
            return redirect("dsl_dhs:product-detail", pk=product.pk)
        except DomainError as error:
            add_service_errors(form, error)
    status = 400 if form.errors else 200
    return render(
        request, "dsl_dhs/product_form.html", {"form": form, "product": product}, status=status
    )


@permission_required("dsl_dhs.add_softwareproduct", raise_exception=True)
def product_create(request):
    return _product_form_page(request, None)


@permission_required("dsl_dhs.change_softwareproduct", raise_exception=True)
def product_edit(request, pk):
    return _product_form_page(request, get_object_or_404(SoftwareProduct, pk=pk))


@permission_required("dsl_dhs.view_softwareproduct", raise_exception=True)
def product_detail(request, pk):
    """A product with every version: status, size, checksum, who authorised it, last check."""
    product = get_object_or_404(selectors.software_products(), pk=pk)
    versions = selectors.product_versions(product)
    return render(
        request, "dsl_dhs/product_detail.html", {"product": product, "versions": versions}
    )


@permission_required("dsl_dhs.view_softwareversion", raise_exception=True)
def version_detail(request, pk):
    """A version: its artefact, its checks, the status changes the user may make, download."""
    version = get_object_or_404(selectors.software_versions(), pk=pk)
    may_authorise = request.user.has_perm(services.AUTHORISE_PERMISSION)
    actions = []
    if may_authorise:
        for target in sorted(VERSION_STATUS_CHANGES[VersionStatus(version.status)]):
            label, needs_reason = STATUS_ACTIONS[target]
            actions.append({"status": target, "label": label, "needs_reason": needs_reason})
    context = {
        "version": version,
        "checks": selectors.version_checks(version),
        "status_actions": actions,
        "may_authorise": may_authorise,
        "may_download": version.status == VersionStatus.AUTHORISED
        and bool(version.artefact)
        and request.user.has_perm(selectors.DOWNLOAD_PERMISSION),
        "may_change": request.user.has_perm("dsl_dhs.change_softwareversion"),
        "status_error": request.session.pop("dsl_status_error", None),
    }
    return render(request, "dsl_dhs/version_detail.html", context)


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _declared_too_large(request) -> DomainError | None:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if declared > settings.DSL_MAX_ARTEFACT_BYTES + MULTIPART_ALLOWANCE:
        return services.artefact_too_large(declared)
    return None


def _upload_page(request, *, form, version=None, status=200, error=None):
    if _wants_json(request) and request.method == "POST":
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        detail = error_text(error) if error is not None else ""
        if not detail:
            detail = " ".join(
                (f"{field}: " if field != "__all__" else "") + " ".join(messages_)
                for field, messages_ in errors.items()
            )
        return JsonResponse({"detail": detail, "errors": errors}, status=status)
    context = {
        "form": form,
        "version": version,
        "max_bytes": settings.DSL_MAX_ARTEFACT_BYTES,
        "max_size": filesizeformat(settings.DSL_MAX_ARTEFACT_BYTES),
        "top_error": error_text(error) if error is not None and not form.errors else "",
    }
    return render(request, "dsl_dhs/version_upload.html", context, status=status)


def _uploaded(request, version: SoftwareVersion, text: str):
    messages.success(request, text)
    target = reverse("dsl_dhs:version-detail", kwargs={"pk": version.pk})
    if _wants_json(request):
        return JsonResponse({"detail": text, "redirect": target}, status=201)
    return redirect(target)


# The upload views are csrf_exempt on the outside only so that an oversized body is refused from
# its Content-Length before anything reads it (the CSRF check would read and spool it first);
# the inner view is csrf_protect-ed as usual.
@csrf_exempt
@permission_required("dsl_dhs.add_softwareversion", raise_exception=True)
def version_upload(request):
    """Upload a new draft version with its artefact: a progress bar with JavaScript
    (XMLHttpRequest, JSON answers), a plain form post without."""
    if request.method == "POST" and (too_large := _declared_too_large(request)):
        return _upload_page(request, form=VersionUploadForm(), status=413, error=too_large)
    return _version_upload(request)


@csrf_protect
def _version_upload(request):
    if request.method != "POST":
        form = VersionUploadForm(initial={"product": request.GET.get("product")})
        return _upload_page(request, form=form)
    form = VersionUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _upload_page(request, form=form, status=400)
    data = form.cleaned_data
    try:
        version = services.software_version_upload(
            product=data["product"],
            version_name=data["version"],
            release_notes=data["release_notes"],
            file=data["artefact"],
            declared_sha256=data["sha256"] or None,
            by=request.user,
        )
    except DomainError as error:
        add_service_errors(form, error)
        return _upload_page(request, form=form, status=error.status_code, error=error)
    return _uploaded(
        request,
        version,
        f"{version} uploaded ({filesizeformat(version.size)}, SHA-256 {version.sha256}). "
        "It is a draft until authorised.",
    )


@csrf_exempt
@permission_required("dsl_dhs.change_softwareversion", raise_exception=True)
def version_artefact(request, pk):
    """Attach (or replace) the artefact of a draft version."""
    version = get_object_or_404(SoftwareVersion.objects.select_related("product"), pk=pk)
    try:
        services.software_version_check_upload(version=version)
    except DomainError as refused:
        if request.method != "POST":
            messages.error(request, error_text(refused))
            return redirect("dsl_dhs:version-detail", pk=version.pk)
        return _upload_page(
            request, form=ArtefactForm(), version=version, status=409, error=refused
        )
    if request.method == "POST" and (too_large := _declared_too_large(request)):
        return _upload_page(
            request, form=ArtefactForm(), version=version, status=413, error=too_large
        )
    return _version_artefact(request, version)


@csrf_protect
def _version_artefact(request, version):
    if request.method != "POST":
        return _upload_page(request, form=ArtefactForm(), version=version)
    form = ArtefactForm(request.POST, request.FILES)
    if not form.is_valid():
        return _upload_page(request, form=form, version=version, status=400)
    try:
        version = services.software_version_upload(
            version=version,
            file=form.cleaned_data["artefact"],
            declared_sha256=form.cleaned_data["sha256"] or None,
            by=request.user,
        )
    except DomainError as error:
        add_service_errors(form, error)
        return _upload_page(
            request, form=form, version=version, status=error.status_code, error=error
        )
    return _uploaded(
        request,
        version,
        f"Artefact of {version} stored ({filesizeformat(version.size)}, SHA-256 {version.sha256}).",
    )


@require_POST
@permission_required(services.AUTHORISE_PERMISSION, raise_exception=True)
def version_status(request, pk):
    """Authorise, quarantine or retire; a refused change comes back on the version page."""
    version = get_object_or_404(SoftwareVersion, pk=pk)
    form = StatusChangeForm(request.POST)
    if not form.is_valid():
        request.session["dsl_status_error"] = "Choose authorised, quarantined or retired."
        return redirect("dsl_dhs:version-detail", pk=pk)
    try:
        version = services.software_version_set_status(
            version=version,
            status=form.cleaned_data["status"],
            reason=form.cleaned_data["reason"],
            by=request.user,
        )
        messages.success(request, f"{version} is now {version.get_status_display().lower()}.")
    except DomainError as error:
        # Shown beside the buttons, not as a flash, so the person sees why at the right place.
        request.session["dsl_status_error"] = error_text(error)
    return redirect("dsl_dhs:version-detail", pk=pk)


@require_POST
@permission_required("dsl_dhs.change_softwareversion", raise_exception=True)
def version_verify(request, pk):
    """Recompute the stored artefact's checksum now."""
    version = get_object_or_404(SoftwareVersion, pk=pk)
    try:
        check = services.software_version_verify(version=version)
    except DomainError as error:
        messages.error(request, error_text(error))
    else:
        if check.result == "ok":
            messages.success(request, "The stored artefact matches its recorded SHA-256.")
        else:
            messages.error(request, f"{check.get_result_display()}: {check.detail}")
    return redirect("dsl_dhs:version-detail", pk=pk)


# Definitive Hardware Store


@permission_required("dsl_dhs.view_stock", raise_exception=True)
def stock_list(request):
    """Spares per model and location: on hand, reserved, free (warned at 0)."""
    filterset = StockFilterSet(request.GET, queryset=selectors.stock_list())
    pages = paginate(request, filterset.qs, per_page=PAGE_SIZE)
    return render(request, "dsl_dhs/stock_list.html", {"filterset": filterset, **pages})


def _stock(pk) -> Stock:
    return get_object_or_404(selectors.stock_list(), pk=pk)


@permission_required("dsl_dhs.add_reservation", raise_exception=True)
def stock_reserve(request, pk):
    """Reserve units of one stock row for a release."""
    stock = _stock(pk)
    form = ReservationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            reservation = services.reservation_create(
                stock=stock, by=request.user, **form.cleaned_data
            )
            messages.success(
                request,
                f"Reserved {reservation.quantity} unit(s) of {stock.hardware_model} at {stock.location} "
                f"for {reservation.reference}.",
            )
            return redirect(reverse("dsl_dhs:reservation-list") + "?status=reserved")
        except DomainError as error:
            add_service_errors(form, error)
            stock = _stock(pk)  # show the numbers that refused it
    context = {
        "stock": stock,
        "form": form,
        "title": "Reserve units",
        "submit": "Reserve",
        "intro": "Units stay on the shelf but are held for this reference until consumed "
        "(installed) or returned.",
    }
    return render(request, "dsl_dhs/stock_form.html", context, status=400 if form.errors else 200)


@permission_required("dsl_dhs.change_stock", raise_exception=True)
def stock_adjust(request, pk):
    """Set the units on hand after a delivery, a write-off or a stock-take."""
    stock = _stock(pk)
    form = StockAdjustForm(request.POST or None, initial={"on_hand": stock.on_hand})
    if request.method == "POST" and form.is_valid():
        try:
            services.stock_adjust(stock=stock, by=request.user, **form.cleaned_data)
            messages.success(request, f"{stock.hardware_model} at {stock.location} updated.")
            return redirect("dsl_dhs:stock-list")
        except DomainError as error:
            add_service_errors(form, error)
    context = {
        "stock": stock,
        "form": form,
        "title": "Adjust stock",
        "submit": "Save count",
        "intro": "The count cannot go below the units reserved.",
    }
    return render(request, "dsl_dhs/stock_form.html", context, status=400 if form.errors else 200)


@permission_required("dsl_dhs.view_reservation", raise_exception=True)
def reservation_list(request):
    """Reservations, newest first, filterable by status and searchable by reference."""
    filterset = ReservationFilterSet(request.GET, queryset=selectors.reservations())
    pages = paginate(request, filterset.qs, per_page=PAGE_SIZE)
    return render(
        request,
        "dsl_dhs/reservation_list.html",
        {"filterset": filterset, **pages, "statuses": ReservationStatus.choices},
    )


def _close(request, pk, service, done: str):
    reservation = get_object_or_404(Reservation, pk=pk)
    form = ReservationCloseForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        reservation = service(reservation=reservation, by=request.user, note=note)
        messages.success(request, f"Reservation {reservation.reference} {done}.")
    except DomainError as error:
        messages.error(request, error_text(error))
    back = request.POST.get("next", "")
    if back.startswith("/dhs/reservations/"):
        return redirect(back)
    return redirect("dsl_dhs:reservation-list")


@require_POST
@permission_required("dsl_dhs.change_reservation", raise_exception=True)
def reservation_consume(request, pk):
    return _close(request, pk, services.reservation_consume, "consumed: the units are installed")


@require_POST
@permission_required("dsl_dhs.change_reservation", raise_exception=True)
def reservation_return(request, pk):
    return _close(request, pk, services.reservation_return, "returned to the free stock")
