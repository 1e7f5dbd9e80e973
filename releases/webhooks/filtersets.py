"""The delivery filters, shared by the API and the deliveries page."""

import django_filters
from drf_spectacular.utils import extend_schema_field

from releases.models import DeliveryAttention, DeliveryStatus, WebhookDelivery

# Plain strings in the schema: a named `status` enum would collide with the other apps' ones
# (drf-spectacular names enums by field name).
STATUS_SCHEMA = {"type": "string", "description": "`received`, `processed` or `failed`."}


@extend_schema_field(STATUS_SCHEMA)
class DeliveryStatusFilter(django_filters.ChoiceFilter):
    pass


@extend_schema_field(
    {"type": "string", "enum": [v for v in DeliveryAttention.values if v]},
)
class DeliveryAttentionFilter(django_filters.ChoiceFilter):
    pass


class WebhookDeliveryFilterSet(django_filters.FilterSet):
    status = DeliveryStatusFilter(choices=DeliveryStatus.choices)
    attention = DeliveryAttentionFilter(choices=DeliveryAttention.choices[1:])
    source = django_filters.CharFilter(field_name="source__name", help_text="The source's name.")
    received_after = django_filters.IsoDateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = django_filters.IsoDateTimeFilter(field_name="received_at", lookup_expr="lte")

    class Meta:
        model = WebhookDelivery
        fields = ["status", "attention", "source"]
