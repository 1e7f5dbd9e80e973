import django_filters
from django import forms
from django.db.models import Q
from django.utils.text import capfirst
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import verbose_lookup_expr

from releasemgmt.core.models import AuditEvent


class FilterSet(django_filters.FilterSet):
    """The project's FilterSet (API and list pages): every filter has a label, which the API
    schema shows as the parameter's description. A filter generated from ``Meta.fields`` (or a
    viewset's ``filterset_fields``) takes its model field's help text, else its verbose name,
    "(id)" added for a relation; a declared filter states its own ``label``."""

    @classmethod
    def filter_for_field(cls, field, field_name, lookup_expr=None):
        filter_ = super().filter_for_field(field, field_name, lookup_expr)
        if filter_.label is None:
            text = str(field.help_text or capfirst(field.verbose_name))
            if field.is_relation:
                text += f" (id of the {field.related_model._meta.verbose_name})"
            if lookup_expr not in (None, "exact"):
                text += f" — {verbose_lookup_expr(lookup_expr)}"
            filter_.label = text
        return filter_


class IdFilter(django_filters.NumberFilter):
    """A filter on an id: an integer within the range of the ids (64-bit), so a value past it is
    a 400 naming the bound instead of failing in the query."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", -(2**63))
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


def search_terms(queryset, value: str, fields):
    """DRF's ``?search=`` on a FilterSet: each word of ``value`` must occur (any case) in one of
    ``fields``."""
    for term in (value or "").split():
        condition = Q()
        for field in fields:
            condition |= Q(**{f"{field}__icontains": term})
        queryset = queryset.filter(condition)
    return queryset


# Query parameters that are never a FilterSet's: pagination, DRF's ordering, the format suffix.
NOT_FILTERS = frozenset({"page", "page_size", "ordering", "format"})


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend building a viewset's ``filterset_fields`` on ``FilterSet``. A
    request naming no filter skips the FilterSet: building its form (a deep copy of every filter)
    to change nothing costs more than the rest of a list's page."""

    filterset_base = FilterSet

    def filter_queryset(self, request, queryset, view):
        if NOT_FILTERS.issuperset(request.query_params):
            return queryset
        return super().filter_queryset(request, queryset, view)


class AuditEventFilterSet(FilterSet):
    occurred_after = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", label="Occurred at or after (ISO 8601)"
    )
    occurred_before = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="lt", label="Occurred before (ISO 8601)"
    )
    object_type = django_filters.CharFilter(
        field_name="content_type__model",
        lookup_expr="iexact",
        label="The kind of object, by model name (e.g. `release`, `configurationitem`)",
    )
    actor = django_filters.CharFilter(
        field_name="actor_name", lookup_expr="iexact", label="Who acted (user name)"
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "object_id"]
