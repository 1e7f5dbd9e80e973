"""Filters shared by the API and the list pages; ``search`` is the free-text search of both."""

import django_filters
from django.db.models import F, Q

from dsl_dhs.choices import HardwareKind, ReservationStatus, VersionStatus
from dsl_dhs.models import (
    HardwareModel,
    LicenceProduct,
    Location,
    Reservation,
    SoftwareProduct,
    SoftwareVersion,
    Stock,
)
from releasemgmt.core.filtersets import FilterSet, search_terms


class TextSearch(django_filters.CharFilter):
    """DRF-style search over several fields: ``TextSearch("name", "vendor")``; each word must
    occur, in any case, in one of them."""

    def __init__(self, *fields: str, **kwargs):
        kwargs.setdefault("label", "Search")
        super().__init__(**kwargs)
        self.search_fields = fields

    def filter(self, qs, value):
        return search_terms(qs, value, self.search_fields)


class LicenceProductFilterSet(FilterSet):
    search = TextSearch("name", "vendor", label="Search the name and vendor (each word, any case)")

    class Meta:
        model = LicenceProduct
        fields = ["vendor"]


class SoftwareProductFilterSet(FilterSet):
    search = TextSearch(
        "name",
        "vendor",
        "licence_product__name",
        label="Search the name, vendor and licence product (each word, any case)",
    )
    licence_product = django_filters.ModelChoiceFilter(
        queryset=LicenceProduct.objects.all(), label="Licence product (id)"
    )
    licensed = django_filters.BooleanFilter(
        field_name="licence_product", lookup_expr="isnull", exclude=True, label="Needs a licence"
    )

    class Meta:
        model = SoftwareProduct
        fields = ["vendor", "licence_product", "licensed"]


class SoftwareVersionFilterSet(FilterSet):
    search = TextSearch(
        "product__name",
        "version",
        label="Search the product name and version (each word, any case)",
    )
    product = django_filters.ModelChoiceFilter(
        queryset=SoftwareProduct.objects.all(), label="Software product (id)"
    )
    status = django_filters.MultipleChoiceFilter(choices=VersionStatus.choices)
    sha256 = django_filters.CharFilter(lookup_expr="iexact", label="SHA-256")

    class Meta:
        model = SoftwareVersion
        fields = ["product", "status", "sha256"]


class LocationFilterSet(FilterSet):
    search = TextSearch("code", "name", label="Search the code and name (each word, any case)")

    class Meta:
        model = Location
        fields = ["code"]


class HardwareModelFilterSet(FilterSet):
    search = TextSearch(
        "manufacturer",
        "name",
        "part_number",
        label="Search the manufacturer, name and part number (each word, any case)",
    )
    kind = django_filters.MultipleChoiceFilter(choices=HardwareKind.choices)

    class Meta:
        model = HardwareModel
        fields = ["kind", "manufacturer"]


class StockFilterSet(FilterSet):
    search = TextSearch(
        "hardware_model__manufacturer",
        "hardware_model__name",
        "hardware_model__part_number",
        "location__code",
        label="Search the model's manufacturer, name, part number and the location code "
        "(each word, any case)",
    )
    model = django_filters.ModelChoiceFilter(
        field_name="hardware_model",
        queryset=HardwareModel.objects.all(),
        label="Hardware model (id)",
    )
    location = django_filters.ModelChoiceFilter(
        queryset=Location.objects.all(), label="Location (id)"
    )
    kind = django_filters.ChoiceFilter(
        field_name="hardware_model__kind", choices=HardwareKind.choices, label="Kind"
    )
    available = django_filters.BooleanFilter(method="filter_available", label="Has free units")

    class Meta:
        model = Stock
        fields = ["model", "location", "kind"]

    def filter_available(self, queryset, name, value):
        if value is None:
            return queryset
        has_free = Q(on_hand__gt=F("reserved"))
        return queryset.filter(has_free) if value else queryset.exclude(has_free)


class ReservationFilterSet(FilterSet):
    search = TextSearch(
        "reference",
        "note",
        "stock__hardware_model__name",
        label="Search the reference, note and hardware model (each word, any case)",
    )
    status = django_filters.ChoiceFilter(choices=ReservationStatus.choices)
    reference = django_filters.CharFilter(lookup_expr="iexact", label="Reference (exact, any case)")
    stock = django_filters.ModelChoiceFilter(queryset=Stock.objects.all(), label="Stock row (id)")
    model = django_filters.ModelChoiceFilter(
        field_name="stock__hardware_model",
        queryset=HardwareModel.objects.all(),
        label="Hardware model (id)",
    )
    location = django_filters.ModelChoiceFilter(
        field_name="stock__location", queryset=Location.objects.all(), label="Location (id)"
    )

    class Meta:
        model = Reservation
        fields = ["status", "reference", "stock", "model", "location"]
