"""Filters shared by the API and the list pages. ``q`` is the pages' free-text search; the API
also has DRF's ``search`` over the same fields."""

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


class TextSearch(django_filters.CharFilter):
    """Case-insensitive substring search over several fields: ``TextSearch("name", "vendor")``."""

    def __init__(self, *fields: str, **kwargs):
        kwargs.setdefault("label", "Search")
        super().__init__(**kwargs)
        self.search_fields = fields

    def filter(self, qs, value):
        value = (value or "").strip()
        if not value:
            return qs
        condition = Q()
        for field in self.search_fields:
            condition |= Q(**{f"{field}__icontains": value})
        return qs.filter(condition)


class LicenceProductFilterSet(django_filters.FilterSet):
    q = TextSearch("name", "vendor")

    class Meta:
        model = LicenceProduct
        fields = ["vendor"]


class SoftwareProductFilterSet(django_filters.FilterSet):
    q = TextSearch("name", "vendor", "licence_product__name")
    licence_product = django_filters.ModelChoiceFilter(queryset=LicenceProduct.objects.all())
    licensed = django_filters.BooleanFilter(
        field_name="licence_product", lookup_expr="isnull", exclude=True, label="Needs a licence"
    )

    class Meta:
        model = SoftwareProduct
        fields = ["vendor", "licence_product", "licensed"]


class SoftwareVersionFilterSet(django_filters.FilterSet):
    q = TextSearch("product__name", "version")
    product = django_filters.ModelChoiceFilter(queryset=SoftwareProduct.objects.all())
    status = django_filters.MultipleChoiceFilter(choices=VersionStatus.choices)
    sha256 = django_filters.CharFilter(lookup_expr="iexact", label="SHA-256")

    class Meta:
        model = SoftwareVersion
        fields = ["product", "status", "sha256"]


class LocationFilterSet(django_filters.FilterSet):
    q = TextSearch("code", "name")

    class Meta:
        model = Location
        fields = ["code"]


class HardwareModelFilterSet(django_filters.FilterSet):
    q = TextSearch("manufacturer", "name", "part_number")
    kind = django_filters.MultipleChoiceFilter(choices=HardwareKind.choices)

    class Meta:
        model = HardwareModel
        fields = ["kind", "manufacturer"]


class StockFilterSet(django_filters.FilterSet):
    q = TextSearch(
        "hardware_model__manufacturer", "hardware_model__name", "hardware_model__part_number"
    )
    model = django_filters.ModelChoiceFilter(
        field_name="hardware_model", queryset=HardwareModel.objects.all(), label="Model"
    )
    location = django_filters.ModelChoiceFilter(queryset=Location.objects.all())
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


class ReservationFilterSet(django_filters.FilterSet):
    q = TextSearch("reference", "note", "stock__hardware_model__name")
    status = django_filters.ChoiceFilter(choices=ReservationStatus.choices)
    reference = django_filters.CharFilter(lookup_expr="iexact")
    stock = django_filters.ModelChoiceFilter(queryset=Stock.objects.all())
    model = django_filters.ModelChoiceFilter(
        field_name="stock__hardware_model", queryset=HardwareModel.objects.all(), label="Model"
    )
    location = django_filters.ModelChoiceFilter(
        field_name="stock__location", queryset=Location.objects.all()
    )

    class Meta:
        model = Reservation
        fields = ["status", "reference", "stock", "model", "location"]
