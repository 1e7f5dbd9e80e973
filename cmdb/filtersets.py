"""Filters shared by the CMDB's API and its list pages."""

import django_filters
from django.db.models import Q

from cmdb.choices import (
    HARDWARE_KINDS,
    SERVICE_KINDS,
    CIClass,
    CIKind,
    CIStatus,
    Environment,
    ErrorCategory,
    ErrorKind,
    ErrorSource,
    LicenceMetric,
    RelationshipKind,
)
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from dsl_dhs.models import LicenceProduct, Location
from releasemgmt.core.filtersets import FilterSet, IdFilter


class ConfigurationItemFilterSet(FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=CIKind.choices)
    # Exposed as ``class`` (a Python keyword, so renamed below the class body).
    ci_class = django_filters.ChoiceFilter(
        field_name="kind", label="Class", choices=CIClass.choices, method="filter_class"
    )
    status = django_filters.MultipleChoiceFilter(choices=CIStatus.choices)
    environment = django_filters.MultipleChoiceFilter(choices=Environment.choices)
    location = django_filters.ModelChoiceFilter(
        queryset=Location.objects.all(), to_field_name="code", label="Location (code)"
    )
    search = django_filters.CharFilter(
        method="filter_search", label="Search the identifier and name (contains, any case)"
    )

    class Meta:
        model = ConfigurationItem
        fields = ["kind", "status", "environment", "location", "owner"]

    def filter_class(self, queryset, name, value):
        if value == CIClass.HARDWARE:
            return queryset.filter(kind__in=HARDWARE_KINDS)
        if value == CIClass.SERVICE:
            return queryset.filter(kind__in=SERVICE_KINDS)
        return queryset.exclude(kind__in=HARDWARE_KINDS | SERVICE_KINDS)

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(identifier__icontains=value) | Q(name__icontains=value))


ConfigurationItemFilterSet.base_filters["class"] = ConfigurationItemFilterSet.base_filters.pop(
    "ci_class"
)


class RelationshipFilterSet(FilterSet):
    kind = django_filters.ChoiceFilter(choices=RelationshipKind.choices)
    ci = IdFilter(method="filter_ci", label="Either end (CI id)")

    class Meta:
        model = Relationship
        fields = ["kind", "source", "target"]

    def filter_ci(self, queryset, name, value):
        return queryset.filter(Q(source_id=value) | Q(target_id=value))


class InstalledSoftwareFilterSet(FilterSet):
    current = django_filters.BooleanFilter(
        field_name="removed_at", lookup_expr="isnull", label="Currently installed"
    )

    class Meta:
        model = InstalledSoftware
        fields = ["ci", "product", "version", "licence", "source"]


class LicenceFilterSet(FilterSet):
    """Works on ``licences_with_usage()``: ``over``, ``low`` and ``expired`` filter its
    annotations."""

    metric = django_filters.ChoiceFilter(choices=LicenceMetric.choices)
    licence_product = django_filters.ModelChoiceFilter(
        queryset=LicenceProduct.objects.all(), label="Licence product (id)"
    )
    over = django_filters.BooleanFilter(field_name="is_over", label="Over-used")
    low = django_filters.BooleanFilter(field_name="is_low", label="At or below the threshold")
    expired = django_filters.BooleanFilter(field_name="is_expired", label="Expired")
    search = django_filters.CharFilter(
        method="filter_search",
        label="Search the name, licence product, vendor and contract reference (contains, any "
        "case)",
    )

    class Meta:
        model = Licence
        fields = ["licence_product", "metric"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(licence_product__name__icontains=value)
            | Q(vendor__icontains=value)
            | Q(contract_reference__icontains=value)
        )


class DiscrepancyFilterSet(FilterSet):
    category = django_filters.ChoiceFilter(choices=ErrorCategory.choices)
    kind = django_filters.ChoiceFilter(choices=ErrorKind.choices)
    source = django_filters.ChoiceFilter(choices=ErrorSource.choices)
    open = django_filters.BooleanFilter(
        field_name="resolved_at", lookup_expr="isnull", label="Open"
    )
    detected_after = django_filters.IsoDateTimeFilter(
        field_name="detected_at", lookup_expr="gte", label="Detected at or after (ISO 8601)"
    )
    detected_before = django_filters.IsoDateTimeFilter(
        field_name="detected_at", lookup_expr="lt", label="Detected before (ISO 8601)"
    )
    environment = django_filters.ChoiceFilter(
        field_name="ci__environment", choices=Environment.choices, label="Environment (of the CI)"
    )

    class Meta:
        model = Discrepancy
        fields = ["category", "kind", "source", "ci", "licence"]
