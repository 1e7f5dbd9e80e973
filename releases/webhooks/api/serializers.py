"""Serializers of the webhooks' management API: sources with their secrets (a secret's value is
answered once), deliveries and callbacks with their attempts (read-only)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from releases.webhooks.filtersets import CALLBACK_STATUS_SCHEMA, STATUS_SCHEMA
from releases.webhooks.models import (
    CallbackAttempt,
    CallbackDelivery,
    WebhookDelivery,
    WebhookSecret,
    WebhookSource,
)
from releases.webhooks.secrets import secret_seal


class WebhookSecretSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookSecret
        fields = ["id", "hint", "active", "created_at"]
        read_only_fields = fields


class WebhookSourceSerializer(serializers.ModelSerializer):
    secrets = WebhookSecretSerializer(many=True, read_only=True)
    endpoint = serializers.SerializerMethodField()

    class Meta:
        model = WebhookSource
        fields = [
            "id",
            "name",
            "adapter",
            "active",
            "policy",
            "time_zone",
            "approved_statuses",
            "cancelled_statuses",
            "planned_start_field",
            "planned_end_field",
            "callback_url",
            "callback_authorization",
            "callback_enabled",
            "callback_disabled_reason",
            "endpoint",
            "secrets",
            "created_at",
        ]
        read_only_fields = ["created_at", "callback_disabled_reason"]
        extra_kwargs = {
            "callback_authorization": {
                "write_only": True,
                "help_text": "Optional Authorization header value for callbacks (e.g. `Bearer …`); never shown again.",
            }
        }

    def validate_callback_authorization(self, value):
        return secret_seal(value.strip()) if value and value.strip() else ""

    def get_endpoint(self, source) -> str:
        return reverse(
            "releases-webhooks:webhook-receive",
            kwargs={"source": source.name},
            request=self.context.get("request"),
        )


class WebhookSourceCreateSerializer(WebhookSourceSerializer):
    secret = serializers.CharField(
        write_only=True,
        required=False,
        help_text="A `whsec_` secret to use; one is generated when left out.",
    )

    class Meta(WebhookSourceSerializer.Meta):
        fields = [*WebhookSourceSerializer.Meta.fields, "secret"]


class SourceWithSecretSerializer(WebhookSourceSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown this once only.")

    class Meta(WebhookSourceSerializer.Meta):
        fields = [*WebhookSourceSerializer.Meta.fields, "secret"]


class NewSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(
        required=False, help_text="A `whsec_` secret to add; one is generated when left out."
    )


class NewSecretResultSerializer(WebhookSecretSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown this once only.")

    class Meta(WebhookSecretSerializer.Meta):
        fields = [*WebhookSecretSerializer.Meta.fields, "secret"]


@extend_schema_field(STATUS_SCHEMA)
class DeliveryStatusField(serializers.CharField):
    pass


class WebhookDeliverySerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="name", read_only=True)
    status = DeliveryStatusField(read_only=True)
    change_request = serializers.CharField(
        source="change_request.number", read_only=True, default=None
    )

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "source",
            "webhook_id",
            "received_at",
            "status",
            "event_type",
            "attempts",
            "processed_at",
            "outcome",
            "attention",
            "change_request",
        ]
        read_only_fields = fields


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "headers", "body"]
        read_only_fields = fields


@extend_schema_field(CALLBACK_STATUS_SCHEMA)
class CallbackStatusField(serializers.CharField):
    pass


class CallbackAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallbackAttempt
        fields = ["at", "status_code", "error", "duration_ms"]
        read_only_fields = fields


class CallbackDeliverySerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="name", read_only=True)
    release = serializers.SlugRelatedField(slug_field="number", read_only=True)
    status = CallbackStatusField(read_only=True)
    attempts = CallbackAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = CallbackDelivery
        fields = [
            "id",
            "source",
            "release",
            "event",
            "message_id",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
            "attempts",
        ]
        read_only_fields = fields


class CallbackDeliveryDetailSerializer(CallbackDeliverySerializer):
    class Meta(CallbackDeliverySerializer.Meta):
        fields = [*CallbackDeliverySerializer.Meta.fields, "payload"]
        read_only_fields = fields
