from django.db import transaction
from django.urls import NoReverseMatch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from releasemgmt.core.api.serializers import AuditEventSerializer, MeSerializer
from releasemgmt.core.filtersets import AuditEventFilterSet
from releasemgmt.core.models import AuditEvent
from releasemgmt.core.services import record_delete, record_save

ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}}
UNAUTHENTICATED = OpenApiResponse(
    ERROR, description="Not signed in, or the token is invalid, expired or revoked."
)
FORBIDDEN = OpenApiResponse(ERROR, description="Signed in without the permission this needs.")
NOT_FOUND = OpenApiResponse(ERROR, description="No such object.")
BAD_REQUEST = OpenApiResponse(ERROR, description="Invalid input; `errors` names each field.")
CONFLICT = OpenApiResponse(
    ERROR, description="Conflicts with the current state (see `detail`: what is allowed, why not)."
)
TOO_LARGE = OpenApiResponse(ERROR, description="The body is larger than this endpoint accepts.")
THROTTLED = OpenApiResponse(
    ERROR, description="Too many requests from this client: wait the `Retry-After` seconds."
)
UNSUPPORTED = OpenApiResponse(ERROR, description="Unsupported media type for this endpoint.")
_ERRORS = {
    400: BAD_REQUEST,
    401: UNAUTHENTICATED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    409: CONFLICT,
    413: TOO_LARGE,
    415: UNSUPPORTED,
}


def errors(*codes: int) -> dict:
    """An endpoint's documented error answers: 401 and 403 always, plus ``codes``. An answer
    particular to one endpoint is given after it: ``{**errors(400, 404), 409: FROZEN}``."""
    return {code: _ERRORS[code] for code in sorted({401, 403, *codes})}


def crud_schema(
    serializer, *, read_only=False, write_errors=(400,), delete_errors=(), **overrides
) -> dict:
    """``extend_schema_view`` arguments for a model viewset's standard actions: every answer each
    can give. ``write_errors`` are those of create and update besides 404, ``delete_errors`` those
    of destroy; ``overrides`` replace single actions."""
    views = {
        "list": extend_schema(responses={200: serializer(many=True), **errors(400)}),
        "retrieve": extend_schema(responses={200: serializer, **errors(404)}),
    }
    if not read_only:
        views.update(
            create=extend_schema(responses={201: serializer, **errors(*write_errors)}),
            update=extend_schema(responses={200: serializer, **errors(404, *write_errors)}),
            partial_update=extend_schema(responses={200: serializer, **errors(404, *write_errors)}),
            destroy=extend_schema(responses={204: None, **errors(404, *delete_errors)}),
        )
    views.update(overrides)
    return views


@extend_schema_view(
    list=extend_schema(responses={200: AuditEventSerializer(many=True), **errors(400)}),
    retrieve=extend_schema(responses={200: AuditEventSerializer, **errors(404)}),
)
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log: every action taken through the services, newest first."""

    queryset = AuditEvent.objects.select_related("content_type")
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    search_fields = ["object_repr", "reason", "action"]
    ordering_fields = ["occurred_at"]


class MeView(APIView):
    """Who the caller is, their roles and what they may do: a token's first sanity check."""

    @extend_schema(responses={200: MeSerializer, 401: UNAUTHENTICATED})
    def get(self, request):
        user = request.user
        data = {
            "username": user.get_username(),
            "full_name": user.get_full_name(),
            "is_service_account": user.is_service_account,
            "time_zone": user.time_zone,
            "roles": user.role_names,
            "actions": [{"key": a.key, "label": a.label} for a in user.actions],
            "authenticated_by": "token" if request.auth is not None else "session",
        }
        return Response(MeSerializer(data).data)


class ApiRootView(APIView):
    """`/api/v1/`: links to every collection, from the routers the project mounts."""

    routers: list[tuple[str, object]] = []  # (namespace, router), set by the project's urls.py

    @extend_schema(exclude=True)
    def get(self, request):
        links = {}
        for namespace, router in self.routers:
            for prefix, _viewset, basename in router.registry:
                try:
                    links[prefix] = reverse(f"{namespace}:{basename}-list", request=request)
                except NoReverseMatch:
                    continue
        links["me"] = reverse("core-api:me", request=request)
        links["schema"] = reverse("api-schema", request=request)
        links["docs"] = reverse("api-docs", request=request)
        return Response(dict(sorted(links.items())))


class AuditedModelViewSet(viewsets.ModelViewSet):
    """A model viewset whose writes go through services, so the API leaves the same audit trail
    as the browser. By default create/update use ``record_save`` and delete ``record_delete``
    (validation, audit event, one transaction); a viewset with domain rules overrides
    ``perform_create`` / ``perform_update`` / ``perform_destroy`` to call its own service."""

    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        with transaction.atomic():
            serializer.instance = record_save(
                instance=serializer.Meta.model(**serializer.validated_data), actor=self.request.user
            )

    def perform_update(self, serializer):
        with transaction.atomic():
            instance = (
                type(serializer.instance).objects.select_for_update().get(pk=serializer.instance.pk)
            )
            for field, value in serializer.validated_data.items():
                setattr(instance, field, value)
            serializer.instance = record_save(instance=instance, actor=self.request.user)

    def perform_destroy(self, instance):
        with transaction.atomic():
            record_delete(instance=instance, actor=self.request.user)


class ServiceModelViewSet(AuditedModelViewSet):
    """A model viewset whose writes are the app's named services, declared, not written out:
    ``create_service(by=, **data)``, ``update_service(<instance_kwarg>=, by=, **data)`` and
    ``delete_service(<instance_kwarg>=, by=)``. One left ``None`` falls back to the audited
    ``record_save`` / ``record_delete``. The answer shows the row as the list shows it (reloaded
    through ``get_queryset``, the selector with its annotations)."""

    create_service = None
    update_service = None
    delete_service = None
    instance_kwarg = ""

    def _reloaded(self, instance):
        return self.get_queryset().get(pk=instance.pk)

    def perform_create(self, serializer):
        if type(self).create_service is None:
            return super().perform_create(serializer)
        instance = type(self).create_service(by=self.request.user, **serializer.validated_data)
        serializer.instance = self._reloaded(instance)

    def perform_update(self, serializer):
        if type(self).update_service is None:
            return super().perform_update(serializer)
        instance = type(self).update_service(
            **{self.instance_kwarg: serializer.instance},
            by=self.request.user,
            **serializer.validated_data,
        )
        serializer.instance = self._reloaded(instance)

    def perform_destroy(self, instance):
        if type(self).delete_service is None:
            return super().perform_destroy(instance)
        type(self).delete_service(**{self.instance_kwarg: instance}, by=self.request.user)
