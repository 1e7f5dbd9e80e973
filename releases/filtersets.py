import django_filters
from django.db.models import Q

from releases.choices import ReleaseLevel, ReleaseState
from releases.models import ChangeRequest, Release


class ReleaseFilterSet(django_filters.FilterSet):
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
    owner = django_filters.CharFilter(field_name="owner__username", lookup_expr="iexact")
    q = django_filters.CharFilter(method="filter_q", label="Search number or title")

    class Meta:
        model = Release
        fields = ["state", "level", "unit", "change", "owner", "category", "trigger"]

    def filter_unit(self, queryset, name, value):
        if value.isdigit():
            return queryset.filter(release_unit_id=int(value))
        return queryset.filter(release_unit__identifier__iexact=value)

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(number__icontains=value) | Q(title__icontains=value))


class ChangeRequestFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search number or title")

    class Meta:
        model = ChangeRequest
        fields = ["source_system", "state", "number"]

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(number__icontains=value) | Q(title__icontains=value))
