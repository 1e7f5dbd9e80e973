import django_filters

from releasemgmt.core.models import AuditEvent


class AuditEventFilterSet(django_filters.FilterSet):
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    object_type = django_filters.CharFilter(field_name="content_type__model", lookup_expr="iexact")
    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="iexact")

    class Meta:
        model = AuditEvent
        fields = ["action", "object_id"]
