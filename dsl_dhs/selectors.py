"""Reads of the DSL and DHS. Each list selector costs a fixed number of queries whatever its
length: related rows are joined (``select_related``) and counts or latest values are annotated
as subqueries, never fetched per row."""

from django.db.models import Count, F, OuterRef, QuerySet, Subquery

from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import (
    ArtefactCheck,
    LicenceProduct,
    Reservation,
    SoftwareProduct,
    SoftwareVersion,
    Stock,
)
from releasemgmt.core.exceptions import DomainConflict, DomainPermissionDenied

DOWNLOAD_PERMISSION = "dsl_dhs.download_softwareversion"


def licence_products(queryset: QuerySet | None = None) -> QuerySet:
    """Licence products with ``software_product_count``."""
    queryset = LicenceProduct.objects.all() if queryset is None else queryset
    # An aggregate drops Meta.ordering: order explicitly so pages are stable.
    return queryset.annotate(
        software_product_count=Count("software_products", distinct=True)
    ).order_by("name", "id")


def software_products(queryset: QuerySet | None = None) -> QuerySet:
    """Products with their licence product, ``version_count``, and the newest authorised version
    (``latest_authorised_id`` / ``latest_authorised_version``; None when none is authorised)."""
    queryset = SoftwareProduct.objects.all() if queryset is None else queryset
    newest_authorised = SoftwareVersion.objects.filter(
        product=OuterRef("pk"), status=VersionStatus.AUTHORISED
    ).order_by("-created_at", "-id")
    return (
        queryset.select_related("licence_product")
        .annotate(
            version_count=Count("versions", distinct=True),
            latest_authorised_id=Subquery(newest_authorised.values("id")[:1]),
            latest_authorised_version=Subquery(newest_authorised.values("version")[:1]),
        )
        .order_by("name", "id")
    )


def software_versions(queryset: QuerySet | None = None) -> QuerySet:
    """Versions with product, licence product and the people involved joined, and the result
    and time of their latest artefact check (``last_check_result``)."""
    queryset = SoftwareVersion.objects.all() if queryset is None else queryset
    latest_check = ArtefactCheck.objects.filter(version=OuterRef("pk")).order_by(
        "-checked_at", "-id"
    )
    return queryset.select_related(
        "product", "product__licence_product", "authorised_by", "created_by"
    ).annotate(last_check_result=Subquery(latest_check.values("result")[:1]))


def product_versions(product: SoftwareProduct) -> QuerySet:
    """A product's versions, newest first, for its detail page."""
    return software_versions(product.versions.all()).order_by("-created_at", "-id")


def version_checks(version: SoftwareVersion, limit: int = 50) -> list[ArtefactCheck]:
    """The newest checks of a version's artefact."""
    return list(version.checks.all()[:limit])


def stock_list(queryset: QuerySet | None = None) -> QuerySet:
    """Stock rows with model and location joined and ``units_free`` (on hand minus reserved)."""
    queryset = Stock.objects.all() if queryset is None else queryset
    return queryset.select_related("hardware_model", "location").annotate(
        units_free=F("on_hand") - F("reserved")
    )


def reservations(queryset: QuerySet | None = None) -> QuerySet:
    """Reservations with their stock's model and location and who made them."""
    queryset = Reservation.objects.all() if queryset is None else queryset
    return queryset.select_related("stock__hardware_model", "stock__location", "created_by")


def software_version_for_download(*, version: SoftwareVersion, by) -> SoftwareVersion:
    """The version whose artefact ``by`` may download: 403 without the download permission, 409
    unless it is authorised and has an artefact. Agents and people only ever receive authorised
    artefacts."""
    if not (by is not None and by.has_perm(DOWNLOAD_PERMISSION)):
        raise DomainPermissionDenied(
            "Downloading artefacts needs the “download artefacts” permission."
        )
    if version.status != VersionStatus.AUTHORISED:
        raise DomainConflict(
            f"{version} is {version.get_status_display().lower()}: only authorised versions can "
            "be downloaded.",
            extra={"status": version.status},
        )
    if not version.artefact or not version.sha256:
        raise DomainConflict(f"{version} has no artefact.")
    return version
