"""Change-management webhooks: the signed endpoint (no login: the signature is the credential),
webhook sources for integration managers, the delivery log with replay, and the outbound status
callbacks with resend."""

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from releasemgmt.core.api.permissions import HasPermission
from releasemgmt.core.api.views import BAD_REQUEST, ERROR, AuditedModelViewSet, errors
from releases.models import (
    CallbackAttempt,
    CallbackDelivery,
    WebhookDelivery,
    WebhookSecret,
    WebhookSource,
)
from releases.webhooks import callbacks, selectors, services
from releases.webhooks.filtersets import (
    CALLBACK_STATUS_SCHEMA,
    STATUS_SCHEMA,
    CallbackDeliveryFilterSet,
    WebhookDeliveryFilterSet,
)
from releases.webhooks.secrets import secret_seal


class AlwaysJSON(BaseContentNegotiation):
    """Senders' Accept headers vary; the answer is JSON whatever they ask for."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


AcceptedSerializer = inline_serializer(
    "WebhookAccepted",
    {
        "delivery": serializers.IntegerField(),
        "status": serializers.CharField(help_text="`accepted`, or `duplicate` for a repeat."),
    },
)


class WebhookReceiveView(APIView):
    """`POST /api/v1/webhooks/{source}/`: one Standard Webhooks delivery (signed with one of the
    source's secrets, `webhook-id`, `webhook-timestamp` within 5 minutes). Stored raw, then
    processed asynchronously; a repeated `webhook-id` is answered 200 "duplicate" and ignored."""

    # The signature is the credential: no session, no token, no CSRF, no per-client throttle (a
    # change system bursts after an outage, and every refusal costs it a retry).
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AlwaysJSON

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses={
            202: AcceptedSerializer,
            200: OpenApiResponse(AcceptedSerializer, description="A repeated webhook-id."),
            401: OpenApiResponse(
                ERROR, description="Missing or invalid signature, or a stale timestamp."
            ),
            404: OpenApiResponse(ERROR, description="No webhook source with that name."),
            410: OpenApiResponse(ERROR, description="The source is inactive: stop sending."),
            413: OpenApiResponse(ERROR, description="The body is larger than 1 MiB."),
            415: OpenApiResponse(ERROR, description="The body is not JSON."),
            400: BAD_REQUEST,
        },
        auth=[],
    )
    def post(self, request, source):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = None
        delivery, created = services.webhook_delivery_receive(
            source_name=source,
            headers=request.headers,
            content_type=request.META.get("CONTENT_TYPE", ""),
            content_length=length,
            read_body=lambda: request.body,
        )
        if not created:
            return Response({"delivery": delivery.pk, "status": "duplicate"})
        return Response(
            {"delivery": delivery.pk, "status": "accepted"}, status=status.HTTP_202_ACCEPTED
        )


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


@extend_schema_view(
    list=extend_schema(responses={200: WebhookSourceSerializer(many=True), **errors()}),
    retrieve=extend_schema(responses={200: WebhookSourceSerializer, **errors(404)}),
    create=extend_schema(
        request=WebhookSourceCreateSerializer,
        responses={201: SourceWithSecretSerializer, **errors(400)},
    ),
    update=extend_schema(responses={200: WebhookSourceSerializer, **errors(400, 404)}),
    partial_update=extend_schema(responses={200: WebhookSourceSerializer, **errors(400, 404)}),
    destroy=extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(ERROR, description="The source has deliveries: deactivate it."),
            **errors(404),
        }
    ),
)
class WebhookSourceViewSet(AuditedModelViewSet):
    """Change-management systems allowed to send webhooks. The signing secret is answered once,
    at creation (or when a secret is added for rotation), and never again."""

    queryset = WebhookSource.objects.prefetch_related("secrets")
    serializer_class = WebhookSourceSerializer
    filterset_fields = ["adapter", "active", "policy"]
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]

    def get_serializer_class(self):
        if self.action == "create":
            return WebhookSourceCreateSerializer
        return super().get_serializer_class()

    def create(self, request, *args, **kwargs):
        body = WebhookSourceCreateSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        secret = data.pop("secret", None)
        source, plain = services.webhook_source_create(by=request.user, secret=secret, **data)
        answer = WebhookSourceSerializer(source, context={"request": request}).data
        return Response({**answer, "secret": plain}, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=NewSecretSerializer,
        responses={201: NewSecretResultSerializer, **errors(400, 404)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="secrets",
        permission_classes=[HasPermission.of("releases.change_webhooksource")],
    )
    def add_secret(self, request, pk=None):
        """Add a signing secret (rotation); the old ones stay valid until revoked."""
        source = self.get_object()
        body = NewSecretSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row, plain = services.webhook_secret_add(
            source=source, by=request.user, secret=body.validated_data.get("secret")
        )
        return Response(
            {**WebhookSecretSerializer(row).data, "secret": plain}, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=None,
        responses={200: WebhookSecretSerializer, **errors(404, 409)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"secrets/(?P<secret_id>\d+)/revoke",
        permission_classes=[HasPermission.of("releases.change_webhooksource")],
    )
    def revoke_secret(self, request, pk=None, secret_id=None):
        """Stop accepting a secret once the sender uses the new one."""
        source = self.get_object()
        secret = get_object_or_404(source.secrets, pk=secret_id)
        with transaction.atomic():
            secret = services.webhook_secret_revoke(secret=secret, by=request.user)
        return Response(WebhookSecretSerializer(secret).data)


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


@extend_schema_view(
    list=extend_schema(responses={200: WebhookDeliverySerializer(many=True), **errors()}),
    retrieve=extend_schema(responses={200: WebhookDeliveryDetailSerializer, **errors(404)}),
)
class WebhookDeliveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Every accepted webhook delivery, raw, with how processing went; replay re-processes one."""

    queryset = WebhookDelivery.objects.select_related("source", "change_request")
    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilterSet
    search_fields = ["webhook_id", "change_request__number", "outcome"]
    ordering_fields = ["received_at", "processed_at"]

    def get_serializer_class(self):
        if self.action == "list":
            return WebhookDeliverySerializer
        return WebhookDeliveryDetailSerializer

    @extend_schema(request=None, responses={202: WebhookDeliveryDetailSerializer, **errors(404)})
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[HasPermission.of("releases.replay_webhookdelivery")],
    )
    def replay(self, request, pk=None):
        """Process the stored delivery again (status back to "received", then the worker)."""
        delivery = services.webhook_delivery_replay(delivery=self.get_object(), by=request.user)
        delivery.refresh_from_db()
        return Response(
            WebhookDeliveryDetailSerializer(delivery).data, status=status.HTTP_202_ACCEPTED
        )


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


@extend_schema_view(
    list=extend_schema(responses={200: CallbackDeliverySerializer(many=True), **errors()}),
    retrieve=extend_schema(responses={200: CallbackDeliveryDetailSerializer, **errors(404)}),
)
class CallbackDeliveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Outbound status callbacks: every event posted (or to be posted) to a source's callback URL,
    with each attempt; resend sends one again with a fresh set of tries."""

    queryset = selectors.callback_list()
    serializer_class = CallbackDeliverySerializer
    filterset_class = CallbackDeliveryFilterSet
    search_fields = ["message_id", "release__number", "last_error"]
    ordering_fields = ["created_at", "next_attempt_at", "delivered_at"]

    def get_serializer_class(self):
        if self.action == "list":
            return CallbackDeliverySerializer
        return CallbackDeliveryDetailSerializer

    @extend_schema(
        request=None,
        responses={202: CallbackDeliveryDetailSerializer, **errors(404, 409)},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[HasPermission.of("releases.replay_webhookdelivery")],
    )
    def resend(self, request, pk=None):
        """Send the event again now (refused while the source's callbacks are switched off or the
        event is already queued)."""
        callbacks.callback_resend(delivery=self.get_object(), by=request.user)
        return Response(
            CallbackDeliveryDetailSerializer(self.get_queryset().get(pk=pk)).data,
            status=status.HTTP_202_ACCEPTED,
        )
