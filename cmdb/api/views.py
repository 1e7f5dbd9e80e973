"""CMDB API: configuration items, relationships, installed software, licences and errors.
Thin: each write calls the CMDB service the pages call too."""

from django.db import transaction
from django.db.models import Q
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from cmdb import selectors, services
from cmdb.api.serializers import (
    ConfigurationItemSerializer,
    DiscrepancySerializer,
    HistoryPageSerializer,
    InstalledSoftwareSerializer,
    LicenceSerializer,
    RelationshipSerializer,
    ResolveSerializer,
    RetireSerializer,
)
from cmdb.filtersets import (
    ConfigurationItemFilterSet,
    DiscrepancyFilterSet,
    InstalledSoftwareFilterSet,
    LicenceFilterSet,
    RelationshipFilterSet,
)
from releasemgmt.core.api.permissions import HasPermission
from releasemgmt.core.api.views import (
    AuditedModelViewSet,
    ServiceModelViewSet,
    crud_schema,
    errors,
)


@extend_schema_view(
    **crud_schema(
        ConfigurationItemSerializer,
        destroy=extend_schema(
            description="Only for a CI that never carried software; otherwise 409 — retire it.",
            responses={204: None, **errors(404, 409)},
        ),
    )
)
class ConfigurationItemViewSet(ServiceModelViewSet):
    """Configuration items: hardware, software, services and applications with typed attributes.
    Filter by `kind`, `class` (hardware/software/service), `status`, `environment`, `location`
    (code); `search` matches identifier and name."""

    queryset = selectors.ci_list()
    serializer_class = ConfigurationItemSerializer
    filterset_class = ConfigurationItemFilterSet
    ordering_fields = ["identifier", "name", "kind", "status", "environment", "updated_at"]
    create_service = services.ci_create
    update_service = services.ci_update
    delete_service = services.ci_delete
    instance_kwarg = "ci"

    @extend_schema(
        request=None,
        responses={200: HistoryPageSerializer, **errors(404)},
        description="Who changed what and when, newest first (`page`, `page_size`).",
    )
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        ci = self.get_object()
        records = ci.history.select_related("history_user").order_by("-history_date", "-history_id")
        page = self.paginator.paginate_queryset(records, request, view=self)
        older = None
        if page:
            last = page[-1]
            older = records.filter(
                Q(history_date__lt=last.history_date)
                | Q(history_date=last.history_date, history_id__lt=last.history_id)
            ).first()
        entries = selectors.ci_history(page or [], older=older)
        data = HistoryPageSerializer(
            {
                "count": self.paginator.page.paginator.count,
                "next": self.paginator.get_next_link(),
                "previous": self.paginator.get_previous_link(),
                "results": entries,
            }
        ).data
        return Response(data)

    @extend_schema(
        request=RetireSerializer,
        responses={200: ConfigurationItemSerializer, **errors(400, 404, 409)},
        description="Set the status to retired, with a reason. Relationships and installations "
        "stay; the integrity check reports them.",
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[HasPermission.of("cmdb.change_configurationitem")],
    )
    def retire(self, request, pk=None):
        ci = self.get_object()
        body = RetireSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ci = services.ci_retire(ci=ci, by=request.user, reason=body.validated_data["reason"])
        return Response(self.get_serializer(selectors.ci_list().get(pk=ci.pk)).data)


@extend_schema_view(
    **crud_schema(
        RelationshipSerializer,
        create=extend_schema(
            description="A self link or a cycle of `part_of` is a 400; an existing "
            "relationship a 409.",
            responses={201: RelationshipSerializer, **errors(400, 409)},
        ),
    )
)
class RelationshipViewSet(AuditedModelViewSet):
    """Relationships between CIs (`source` *kind* `target`). Filter by `kind`, `source`, `target`
    or `ci` (either end). To change one, delete it and create the new one."""

    http_method_names = ["get", "post", "delete", "head", "options"]
    queryset = selectors.relationship_list()
    serializer_class = RelationshipSerializer
    filterset_class = RelationshipFilterSet
    ordering_fields = ["created_at", "kind"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.relationship_create(
            source=data["source"], target=data["target"], kind=data["kind"], by=self.request.user
        )

    def perform_destroy(self, instance):
        services.relationship_delete(relationship=instance, by=self.request.user)


@extend_schema_view(
    list=extend_schema(responses={200: InstalledSoftwareSerializer(many=True), **errors()}),
    retrieve=extend_schema(responses={200: InstalledSoftwareSerializer, **errors(404)}),
    create=extend_schema(
        description="Record that a version is installed on a CI. The CI's current version of the "
        "same product is closed and kept as history; without `licence`, one with a free seat is "
        "allocated (none free → recorded without one, and a licence_missing error is recorded). "
        "201 for a new record, 200 when that version was already the current one.",
        responses={
            201: InstalledSoftwareSerializer,
            200: InstalledSoftwareSerializer,
            **errors(400),
        },
    ),
)
class InstalledSoftwareViewSet(viewsets.ModelViewSet):
    """Which DSL version is installed on which CI, since when and put there by what — the baseline
    a back-out restores. History rows are never changed or deleted; `remove` closes one. Filter by
    `ci`, `product`, `version`, `licence`, `source`, `current`."""

    http_method_names = ["get", "post", "head", "options"]
    queryset = selectors.installed_software_list()
    serializer_class = InstalledSoftwareSerializer
    filterset_class = InstalledSoftwareFilterSet
    ordering_fields = ["installed_at", "removed_at"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            existing = selectors.current_installation(
                ci_id=data["ci"].pk, product_id=data["version"].product_id
            )
            row = services.installed_software_record(
                ci=data["ci"],
                version=data["version"],
                by=request.user,
                source=data.get("source", "manual"),
                source_reference=data.get("source_reference", ""),
                licence=data.get("licence"),
                installed_at=data.get("installed_at"),
            )
        created = existing is None or existing.pk != row.pk
        row = selectors.installed_software_list().get(pk=row.pk)
        return Response(
            self.get_serializer(row).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        request=None,
        responses={200: InstalledSoftwareSerializer, **errors(404)},
        description="Record the removal (kept as history; the seat is freed). Idempotent.",
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[HasPermission.of("cmdb.change_installedsoftware")],
    )
    def remove(self, request, pk=None):
        row = services.installed_software_remove(installation=self.get_object(), by=request.user)
        return Response(
            self.get_serializer(selectors.installed_software_list().get(pk=row.pk)).data
        )


@extend_schema_view(
    **crud_schema(
        LicenceSerializer,
        destroy=extend_schema(
            description="Only a licence no installation ever consumed; otherwise 409.",
            responses={204: None, **errors(404, 409)},
        ),
    )
)
class LicenceViewSet(ServiceModelViewSet):
    """Licences with seats in use derived from installations (`seats_in_use`, `seats_free`,
    `is_over`, `is_low`, `is_expired`). Filter by `licence_product`, `metric`, `over`, `low`,
    `expired`; `search` matches name, product, vendor and contract."""

    queryset = selectors.licences_with_usage()
    serializer_class = LicenceSerializer
    filterset_class = LicenceFilterSet
    ordering_fields = ["name", "valid_until", "seats", "seats_in_use", "seats_free"]
    create_service = services.licence_create
    update_service = services.licence_update
    delete_service = services.licence_delete
    instance_kwarg = "licence"

    def get_queryset(self):
        return selectors.licences_with_usage()  # "today" for is_expired is evaluated per request


@extend_schema_view(
    list=extend_schema(responses={200: DiscrepancySerializer(many=True), **errors()}),
    retrieve=extend_schema(responses={200: DiscrepancySerializer, **errors(404)}),
    create=extend_schema(
        description="Record an error noticed by a person (source `manual`). The same error "
        "already open is a 409 naming it.",
        responses={201: DiscrepancySerializer, **errors(400, 409)},
    ),
)
class DiscrepancyViewSet(viewsets.ModelViewSet):
    """CMDB and licence errors: what was expected, what was found, the source and the resolution.
    Filter by `category`, `kind`, `source`, `open`, `ci`, `licence`, `detected_after`/`before`."""

    http_method_names = ["get", "post", "head", "options"]
    queryset = selectors.discrepancy_list()
    serializer_class = DiscrepancySerializer
    filterset_class = DiscrepancyFilterSet
    search_fields = ["subject", "expected", "found", "reference"]
    ordering_fields = ["detected_at", "resolved_at"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        record = services.discrepancy_report(
            by=self.request.user,
            kind=data["kind"],
            subject=data["subject"],
            expected=data.get("expected", ""),
            found=data.get("found", ""),
            ci=data.get("ci"),
            licence=data.get("licence"),
            software_version=data.get("software_version"),
            reference=data.get("reference", ""),
        )
        serializer.instance = selectors.discrepancy_list().get(pk=record.pk)

    @extend_schema(
        request=ResolveSerializer,
        responses={200: DiscrepancySerializer, **errors(400, 404, 409)},
        description="Close an open error with a note saying what was done; 409 if already closed.",
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[HasPermission.of("cmdb.resolve_discrepancy")],
    )
    def resolve(self, request, pk=None):
        record = self.get_object()
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = services.discrepancy_resolve(
            discrepancy=record, by=request.user, resolution=body.validated_data["resolution"]
        )
        return Response(self.get_serializer(selectors.discrepancy_list().get(pk=record.pk)).data)
