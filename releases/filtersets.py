import django_filters

from cmdb.choices import Environment
from releasemgmt.core.converters import as_id
from releasemgmt.core.filtersets import FilterSet, IdFilter, search_terms
from releases.choices import Outcome, OverrideStatus, ReleaseLevel, ReleaseState
from releases.models import BackoutOverride, ChangeRequest, Release


class ReleaseFilterSet(FilterSet):
    """Shared by the release list page and ``/api/v1/releases/``."""

    state = django_filters.MultipleChoiceFilter(choices=ReleaseState.choices)
    level = django_filters.ChoiceFilter(choices=ReleaseLevel.choices)
    unit = django_filters.CharFilter(method="filter_unit", label="Release unit (id or identifier)")
    change = django_filters.CharFilter(
        field_name="change_requests__number",
        lookup_expr="iexact",
        label="Change number",
        distinct=True,
    )
    owner = django_filters.CharFilter(
        field_name="owner__username", lookup_expr="iexact", label="Owner (user name)"
    )
    search = django_filters.CharFilter(
        method="filter_search", label="Search the number and title (each word, any case)"
    )
    # What the KPI page drills down with: how and when releases ended, when back-outs were decided.
    outcome = django_filters.MultipleChoiceFilter(choices=Outcome.choices)
    environment = django_filters.ChoiceFilter(
        field_name="release_unit__environment",
        choices=Environment.choices,
        label="Environment (of the release unit)",
    )
    ended_after = django_filters.IsoDateTimeFilter(
        field_name="ended_at", lookup_expr="gte", label="Ended at or after (ISO 8601)"
    )
    ended_before = django_filters.IsoDateTimeFilter(
        field_name="ended_at", lookup_expr="lt", label="Ended before (ISO 8601)"
    )
    decided_after = django_filters.IsoDateTimeFilter(
        field_name="backout_decided_at",
        lookup_expr="gte",
        label="Back-out decided at or after (ISO 8601)",
    )
    decided_before = django_filters.IsoDateTimeFilter(
        field_name="backout_decided_at",
        lookup_expr="lt",
        label="Back-out decided before (ISO 8601)",
    )
    backout_automatic = django_filters.BooleanFilter(
        field_name="backout_started_automatically",
        label="The back-out started by itself (nobody decided in time)",
    )

    class Meta:
        model = Release
        fields = ["state", "level", "unit", "change", "owner", "category", "trigger"]

    def filter_unit(self, queryset, name, value):
        if (unit_id := as_id(value)) is not None:
            return queryset.filter(release_unit_id=unit_id)
        return queryset.filter(release_unit__identifier__iexact=value)

    def filter_search(self, queryset, name, value):
        return search_terms(queryset, value, ("number", "title"))


class ChangeRequestFilterSet(FilterSet):
    search = django_filters.CharFilter(
        method="filter_search",
        label="Search the number, title and external id (each word, any case)",
    )

    class Meta:
        model = ChangeRequest
        fields = ["source_system", "state", "number"]

    def filter_search(self, queryset, name, value):
        return search_terms(queryset, value, ("number", "title", "external_id"))


class BackoutOverrideFilterSet(FilterSet):
    """Shared by the overrides page (where the KPI page's override counts drill down to)."""

    status = django_filters.MultipleChoiceFilter(choices=OverrideStatus.choices)
    release = django_filters.CharFilter(
        field_name="release__number", lookup_expr="iexact", label="Release number"
    )
    level = django_filters.ChoiceFilter(field_name="release__level", choices=ReleaseLevel.choices)
    unit = IdFilter(field_name="release__release_unit_id", label="Release unit (id)")
    environment = django_filters.ChoiceFilter(
        field_name="release__release_unit__environment",
        choices=Environment.choices,
        label="Environment (of the release unit)",
    )
    category = IdFilter(field_name="release__category_id", label="Category (id)")
    requested_after = django_filters.IsoDateTimeFilter(
        field_name="requested_at", lookup_expr="gte", label="Requested at or after (ISO 8601)"
    )
    requested_before = django_filters.IsoDateTimeFilter(
        field_name="requested_at", lookup_expr="lt", label="Requested before (ISO 8601)"
    )
    confirmed_after = django_filters.IsoDateTimeFilter(
        field_name="confirmed_at", lookup_expr="gte", label="Confirmed at or after (ISO 8601)"
    )
    confirmed_before = django_filters.IsoDateTimeFilter(
        field_name="confirmed_at", lookup_expr="lt", label="Confirmed before (ISO 8601)"
    )

    class Meta:
        model = BackoutOverride
        fields = ["status", "release"]
