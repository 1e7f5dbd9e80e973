"""The signed endpoint change-management systems POST to: no login, the signature is the credential.
It stores the delivery raw and leaves processing to the worker."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from releasemgmt.core.api.views import BAD_REQUEST, ERROR
from releases.webhooks import services


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
