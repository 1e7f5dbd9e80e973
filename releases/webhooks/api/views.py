"""The webhooks' management API: webhook sources for integration managers, the delivery log with
replay, and the outbound status callbacks with resend."""

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from releasemgmt.core.api.permissions import HasPermission
from releasemgmt.core.api.views import ERROR, AuditedModelViewSet, errors
from releasemgmt.core.converters import ID_REGEX
from releases.webhooks import callbacks, selectors, services
from releases.webhooks.api.serializers import (
    CallbackDeliveryDetailSerializer,
    CallbackDeliverySerializer,
    NewSecretResultSerializer,
    NewSecretSerializer,
    SourceWithSecretSerializer,
    WebhookDeliveryDetailSerializer,
    WebhookDeliverySerializer,
    WebhookSecretSerializer,
    WebhookSourceCreateSerializer,
    WebhookSourceSerializer,
)
from releases.webhooks.filtersets import CallbackDeliveryFilterSet, WebhookDeliveryFilterSet
from releases.webhooks.models import WebhookDelivery, WebhookSource


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
        url_path=rf"secrets/(?P<secret_id>{ID_REGEX})/revoke",
        permission_classes=[HasPermission.of("releases.change_webhooksource")],
    )
    def revoke_secret(self, request, pk=None, secret_id=None):
        """Stop accepting a secret once the sender uses the new one."""
        source = self.get_object()
        secret = get_object_or_404(source.secrets, pk=secret_id)
        with transaction.atomic():
            secret = services.webhook_secret_revoke(secret=secret, by=request.user)
        return Response(WebhookSecretSerializer(secret).data)


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
