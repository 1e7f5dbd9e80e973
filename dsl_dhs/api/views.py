"""DSL and DHS API: thin viewsets whose writes call the services, so the API and the pages leave
one audit trail. Reads go through the selectors (fixed query counts)."""

import base64

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from dsl_dhs import selectors, services
from dsl_dhs.api import serializers as s
from dsl_dhs.filtersets import (
    HardwareModelFilterSet,
    LicenceProductFilterSet,
    LocationFilterSet,
    ReservationFilterSet,
    SoftwareProductFilterSet,
    SoftwareVersionFilterSet,
    StockFilterSet,
)
from dsl_dhs.models import HardwareModel, Location
from releasemgmt.core.api.permissions import HasPermission
from releasemgmt.core.api.views import ERROR, ServiceModelViewSet, crud_schema, errors
from releasemgmt.core.exceptions import DomainConflict, DomainValidationError

ARTEFACT_TOO_LARGE = OpenApiResponse(
    ERROR, description="The artefact is larger than the configured limit (DSL_MAX_ARTEFACT_MB)."
)
# Multipart framing and the small text fields around the file; the exact byte count of the file
# itself is enforced while it is hashed.
MULTIPART_ALLOWANCE = 1024 * 1024


def _refuse_oversized(request) -> None:
    """413 before the body is read, when its declared length alone is over the limit."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if declared > settings.DSL_MAX_ARTEFACT_BYTES + MULTIPART_ALLOWANCE:
        raise services.artefact_too_large(declared)


def _crud_schema(serializer, *, read_only: bool = False):
    """Every response a model endpoint can give, for drf-spectacular."""
    return extend_schema_view(
        **crud_schema(
            serializer, read_only=read_only, write_errors=(400, 409, 415), delete_errors=(409,)
        )
    )


@_crud_schema(s.LicenceProductSerializer)
class LicenceProductViewSet(ServiceModelViewSet):
    """Licence products: what CMDB licences are bought for and software products consume."""

    queryset = selectors.licence_products()
    serializer_class = s.LicenceProductSerializer
    filterset_class = LicenceProductFilterSet
    ordering_fields = ["name", "vendor"]
    create_service = services.licence_product_create
    update_service = services.licence_product_update
    delete_service = services.licence_product_delete
    instance_kwarg = "licence_product"


@_crud_schema(s.SoftwareProductSerializer)
class SoftwareProductViewSet(ServiceModelViewSet):
    """Software products of the DSL with their number of versions and the newest authorised
    one."""

    queryset = selectors.software_products()
    serializer_class = s.SoftwareProductSerializer
    filterset_class = SoftwareProductFilterSet
    ordering_fields = ["name", "vendor", "created_at"]
    create_service = services.software_product_create
    update_service = services.software_product_update
    delete_service = services.software_product_delete
    instance_kwarg = "product"


_VERSION = s.SoftwareVersionSerializer


@extend_schema_view(
    list=extend_schema(responses={200: _VERSION(many=True), **errors(400)}),
    retrieve=extend_schema(responses={200: _VERSION, **errors(404)}),
    create=extend_schema(
        summary="Create a draft version, with its artefact (multipart) or without (JSON)",
        request={
            "multipart/form-data": s.SoftwareVersionCreateSerializer,
            "application/json": s.SoftwareVersionCreateSerializer,
        },
        responses={
            201: _VERSION,
            **errors(400, 409, 415),
            413: ARTEFACT_TOO_LARGE,
        },
    ),
    update=extend_schema(
        responses={
            200: _VERSION,
            **errors(400, 404, 409, 415),
        }
    ),
    partial_update=extend_schema(
        responses={
            200: _VERSION,
            **errors(400, 404, 409, 415),
        }
    ),
    destroy=extend_schema(
        description="Only draft and retired versions can be deleted (and none still installed).",
        responses={
            204: None,
            **errors(404, 409),
        },
    ),
)
class SoftwareVersionViewSet(ServiceModelViewSet):
    """Versions of DSL products: artefact upload (multipart, checksum computed while streaming),
    status changes, on-demand verification and the authenticated download agents pull from."""

    queryset = selectors.software_versions()
    serializer_class = s.SoftwareVersionSerializer
    filterset_class = SoftwareVersionFilterSet
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    ordering_fields = ["created_at", "version", "status", "authorised_at", "last_checked_at"]
    delete_service = services.software_version_delete
    instance_kwarg = "version"

    def perform_update(self, serializer):
        data = serializer.validated_data
        version = services.software_version_update(
            version=serializer.instance,
            version_name=data.get("version"),
            release_notes=data.get("release_notes"),
            by=self.request.user,
        )
        serializer.instance = self._reloaded(version)

    def perform_content_negotiation(self, request, force=False):
        # An agent asking for application/octet-stream gets the file (or a JSON error), not 406.
        return super().perform_content_negotiation(
            request, force=force or self.action == "download"
        )

    def create(self, request, *args, **kwargs):
        if (request.content_type or "").startswith("multipart/"):
            _refuse_oversized(request)
        serializer = s.SoftwareVersionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("artefact") is not None:
            version = services.software_version_upload(
                product=data["product"],
                version_name=data["version"],
                file=data["artefact"],
                declared_sha256=data.get("sha256"),
                release_notes=data.get("release_notes", ""),
                by=request.user,
            )
        else:
            if data.get("sha256"):
                raise DomainValidationError(
                    {"sha256": "A checksum was given without an artefact: send both (multipart)."}
                )
            version = services.software_version_create(
                product=data["product"],
                version=data["version"],
                release_notes=data.get("release_notes", ""),
                by=request.user,
            )
        body = _VERSION(self._reloaded(version), context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Attach (or replace) the artefact of a draft version",
        description="Multipart `artefact` file plus optional declared `sha256`. A quarantined "
        "version accepts only its original bytes back; authorised artefacts are immutable (409).",
        request={"multipart/form-data": s.ArtefactUploadSerializer},
        responses={
            200: _VERSION,
            **errors(400, 404, 409, 415),
            413: ARTEFACT_TOO_LARGE,
        },
    )
    @action(
        detail=True,
        methods=["post"],
        parser_classes=[MultiPartParser],
        permission_classes=[HasPermission.of("dsl_dhs.change_softwareversion")],
    )
    def artefact(self, request, pk=None):
        _refuse_oversized(request)
        version = self.get_object()
        services.software_version_check_upload(version=version)  # before the body is read
        serializer = s.ArtefactUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.software_version_upload(
            version=version,
            file=serializer.validated_data["artefact"],
            declared_sha256=serializer.validated_data.get("sha256"),
            by=request.user,
        )
        return Response(_VERSION(self._reloaded(version), context={"request": request}).data)

    @extend_schema(
        summary="Authorise, quarantine or retire a version",
        description="Allowed: draft → authorised | retired; authorised → quarantined | retired; "
        "quarantined → authorised | retired. A reason is required to quarantine or retire; "
        "authorising recomputes the stored artefact's checksum first. 409 lists the allowed "
        "changes in `allowed`.",
        request=s.StatusChangeSerializer,
        responses={
            200: _VERSION,
            **errors(400, 404, 409, 415),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="status",
        url_name="status",
        parser_classes=[JSONParser, FormParser],
        permission_classes=[HasPermission.of(services.AUTHORISE_PERMISSION)],
    )
    def change_status(self, request, pk=None):
        version = self.get_object()
        serializer = s.StatusChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.software_version_set_status(
            version=version,
            status=serializer.validated_data["status"],
            reason=serializer.validated_data["reason"],
            by=request.user,
        )
        return Response(_VERSION(self._reloaded(version), context={"request": request}).data)

    @extend_schema(
        summary="Recompute the stored artefact's checksum now",
        description="Records the check; a mismatch or a missing file quarantines the version.",
        request=None,
        responses={
            200: s.VerifyResultSerializer,
            **errors(404, 409),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[HasPermission.of("dsl_dhs.change_softwareversion")],
    )
    def verify(self, request, pk=None):
        check = services.software_version_verify(version=self.get_object())
        version = self._reloaded(check.version)
        return Response(
            {
                "check": s.ArtefactCheckSerializer(check).data,
                "version": _VERSION(version, context={"request": request}).data,
            }
        )

    @extend_schema(
        summary="Download the artefact of an authorised version",
        description="Streams the file. `X-Checksum-SHA256` carries the recorded SHA-256 (hex), "
        "`Repr-Digest`/`Digest` the same in RFC 9530/3230 form: check the bytes against it "
        "before installing. Only authorised versions are served (409 otherwise).",
        parameters=[
            OpenApiParameter(
                "X-Checksum-SHA256",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=[200],
                description="SHA-256 of the artefact, 64 lowercase hex characters.",
            ),
            OpenApiParameter(
                "Repr-Digest",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=[200],
                description="`sha-256=:<base64>:` (RFC 9530).",
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The artefact's bytes."
            ),
            **errors(404, 409),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[HasPermission.of(selectors.DOWNLOAD_PERMISSION)],
    )
    def download(self, request, pk=None):
        version = selectors.software_version_for_download(
            version=self.get_object(), by=request.user
        )
        try:
            handle = version.artefact.storage.open(version.artefact.name, "rb")
        except OSError:
            raise DomainConflict(
                f"The artefact of {version} is missing from storage; the integrity check will "
                "quarantine it. Tell the configuration manager."
            ) from None
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=version.artefact_name or version.artefact.name.rsplit("/", 1)[-1],
            content_type="application/octet-stream",
        )
        digest = base64.b64encode(bytes.fromhex(version.sha256)).decode()
        response["X-Checksum-SHA256"] = version.sha256
        response["Repr-Digest"] = f"sha-256=:{digest}:"
        response["Digest"] = f"SHA-256={digest}"
        response["ETag"] = f'"{version.sha256}"'
        response["Cache-Control"] = "private, no-transform"
        return response


@_crud_schema(s.LocationSerializer)
class LocationViewSet(ServiceModelViewSet):
    """Sites, rooms and stores where CIs stand and spares are kept."""

    queryset = Location.objects.all()
    serializer_class = s.LocationSerializer
    filterset_class = LocationFilterSet
    ordering_fields = ["code", "name"]
    create_service = services.location_create
    update_service = services.location_update
    delete_service = services.location_delete
    instance_kwarg = "location"


@_crud_schema(s.HardwareModelSerializer)
class HardwareModelViewSet(ServiceModelViewSet):
    """Hardware models of the DHS."""

    queryset = HardwareModel.objects.all()
    serializer_class = s.HardwareModelSerializer
    filterset_class = HardwareModelFilterSet
    ordering_fields = ["manufacturer", "name", "part_number", "kind"]
    create_service = services.hardware_model_create
    update_service = services.hardware_model_update
    delete_service = services.hardware_model_delete
    instance_kwarg = "hardware_model"


_STOCK_ADJUST_RESPONSES = {
    200: s.StockSerializer,
    **errors(400, 404, 409, 415),
}


@_crud_schema(s.StockSerializer)
class StockViewSet(ServiceModelViewSet):
    """Spare units per model and location with on hand / reserved / free. Changing ``on_hand``
    needs a ``reason`` and cannot go below what is reserved (409)."""

    queryset = selectors.stock_list()
    serializer_class = s.StockSerializer
    filterset_class = StockFilterSet
    ordering_fields = ["on_hand", "reserved", "units_free", "updated_at"]
    delete_service = services.stock_delete
    instance_kwarg = "stock"

    def perform_create(self, serializer):
        data = serializer.validated_data
        stock = services.stock_create(
            hardware_model=data["hardware_model"],
            location=data["location"],
            on_hand=data.get("on_hand", 0),
            by=self.request.user,
        )
        serializer.instance = self._reloaded(stock)

    def perform_update(self, serializer):
        data = serializer.validated_data
        stock = serializer.instance
        if "on_hand" in data and data["on_hand"] != stock.on_hand:
            stock = services.stock_adjust(
                stock=stock,
                on_hand=data["on_hand"],
                reason=data.get("reason", ""),
                by=self.request.user,
            )
        serializer.instance = self._reloaded(stock)

    @extend_schema(
        summary="Set the units on hand (delivery, write-off, stock-take)",
        request=s.StockAdjustSerializer,
        responses=_STOCK_ADJUST_RESPONSES,
    )
    @action(
        detail=True,
        methods=["post"],
        parser_classes=[JSONParser, FormParser],
        permission_classes=[HasPermission.of("dsl_dhs.change_stock")],
    )
    def adjust(self, request, pk=None):
        serializer = s.StockAdjustSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stock = services.stock_adjust(
            stock=self.get_object(),
            on_hand=serializer.validated_data["on_hand"],
            reason=serializer.validated_data["reason"],
            by=request.user,
        )
        return Response(s.StockSerializer(self._reloaded(stock)).data)


_RESERVATION = s.ReservationSerializer
_CLOSE_RESPONSES = {
    200: _RESERVATION,
    **errors(400, 404, 409, 415),
}


@extend_schema_view(
    list=extend_schema(
        responses={
            200: _RESERVATION(many=True),
            **errors(400),
        }
    ),
    retrieve=extend_schema(responses={200: _RESERVATION, **errors(404)}),
    create=extend_schema(
        summary="Reserve units of a stock row",
        description="409 “only N free” when the stock cannot cover the quantity.",
        responses={
            201: _RESERVATION,
            **errors(400, 409, 415),
        },
    ),
)
class ReservationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Hardware reservations: reserved → consumed (installed) or returned. They are never edited
    or deleted; ``status`` moves only through ``consume/`` and ``return/``."""

    queryset = selectors.reservations()
    serializer_class = _RESERVATION
    filterset_class = ReservationFilterSet
    ordering_fields = ["created_at", "closed_at", "quantity"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        reservation = services.reservation_create(
            stock=data["stock"],
            quantity=data["quantity"],
            reference=data["reference"],
            note=data.get("note", ""),
            by=self.request.user,
        )
        serializer.instance = self.get_queryset().get(pk=reservation.pk)

    def _close(self, request, service):
        serializer = s.ReservationCloseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reservation = service(
            reservation=self.get_object(),
            note=serializer.validated_data["note"],
            by=request.user,
        )
        return Response(_RESERVATION(self.get_queryset().get(pk=reservation.pk)).data)

    @extend_schema(
        summary="The reserved units were installed: on hand and reserved drop",
        request=s.ReservationCloseSerializer,
        responses=_CLOSE_RESPONSES,
    )
    @action(
        detail=True,
        methods=["post"],
        parser_classes=[JSONParser, FormParser],
        permission_classes=[HasPermission.of("dsl_dhs.change_reservation")],
    )
    def consume(self, request, pk=None):
        return self._close(request, services.reservation_consume)

    @extend_schema(
        summary="Give the reserved units back to the free stock",
        request=s.ReservationCloseSerializer,
        responses=_CLOSE_RESPONSES,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="return",
        url_name="return",
        parser_classes=[JSONParser, FormParser],
        permission_classes=[HasPermission.of("dsl_dhs.change_reservation")],
    )
    def return_units(self, request, pk=None):
        return self._close(request, services.reservation_return)
