"""The delivery filters (inbound deliveries, outbound callbacks), shared by the API and pages."""

import django_filters
from drf_spectacular.utils import extend_schema_field

from releases.webhooks.models import (
    CallbackDelivery,
    CallbackStatus,
    DeliveryAttention,
    DeliveryStatus,
    WebhookDelivery,
)

# Plain strings in the schema: a named `status` enum would collide with the other apps' ones
# (drf-spectacular names enums by field name).
STATUS_SCHEMA = {"type": "string", "description": "`received`, `processed` or `failed`."}


@extend_schema_field(STATUS_SCHEMA)
class DeliveryStatusFilter(django_filters.ChoiceFilter):
    pass


@extend_schema_field(
    {
        "type": "string",
        "enum": [v for v in DeliveryAttention.values if v],
        "description": "`triage` (waiting for triage) or `flagged` (flagged for a person).",
    },
)
class DeliveryAttentionFilter(django_filters.ChoiceFilter):
    pass


class WebhookDeliveryFilterSet(django_filters.FilterSet):
    status = DeliveryStatusFilter(choices=DeliveryStatus.choices)
    attention = DeliveryAttentionFilter(choices=DeliveryAttention.choices[1:])
    source = django_filters.CharFilter(field_name="source__name", help_text="The source's name.")
    received_after = django_filters.IsoDateTimeFilter(
        field_name="received_at", lookup_expr="gte", help_text="Received at or after (ISO 8601)."
    )
    received_before = django_filters.IsoDateTimeFilter(
        field_name="received_at", lookup_expr="lte", help_text="Received at or before (ISO 8601)."
    )

    class Meta:
        model = WebhookDelivery
        fields = ["status", "attention", "source"]


CALLBACK_STATUS_SCHEMA = {
    "type": "string",
    "description": "`pending`, `delivered`, `failed` (gave up) or `disabled` (callbacks off).",
}


@extend_schema_field(CALLBACK_STATUS_SCHEMA)
class CallbackStatusFilter(django_filters.ChoiceFilter):
    pass


class CallbackDeliveryFilterSet(django_filters.FilterSet):
    status = CallbackStatusFilter(choices=CallbackStatus.choices)
    source = django_filters.CharFilter(field_name="source__name", help_text="The source's name.")
    release = django_filters.CharFilter(
        field_name="release__number", help_text="The release number."
    )
    event = django_filters.CharFilter(help_text="e.g. `release.installing`.")
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lte", help_text="Created at or before (ISO 8601)."
    )

    class Meta:
        model = CallbackDelivery
        fields = ["status", "source", "release", "event"]
