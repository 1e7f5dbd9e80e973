"""Serializers of the DSL and DHS API. State fields (status, checksums, sizes, quantities held)
are read-only everywhere: they change only through the services behind the actions."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import (
    ArtefactCheck,
    HardwareModel,
    LicenceProduct,
    Location,
    Reservation,
    SoftwareProduct,
    SoftwareVersion,
    Stock,
)


class LicenceProductSerializer(serializers.ModelSerializer):
    software_product_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = LicenceProduct
        fields = ["id", "name", "vendor", "description", "software_product_count"]


class VersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField()


class SoftwareProductSerializer(serializers.ModelSerializer):
    licence_product = serializers.PrimaryKeyRelatedField(
        queryset=LicenceProduct.objects.all(),
        allow_null=True,
        required=False,
        help_text="The licence product each installation consumes; null when none is needed.",
    )
    licence_product_name = serializers.CharField(
        source="licence_product.name", read_only=True, allow_null=True
    )
    version_count = serializers.IntegerField(read_only=True)
    latest_authorised_version = serializers.SerializerMethodField()

    class Meta:
        model = SoftwareProduct
        fields = [
            "id",
            "name",
            "vendor",
            "description",
            "licence_product",
            "licence_product_name",
            "version_count",
            "latest_authorised_version",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    @extend_schema_field(VersionRefSerializer(allow_null=True))
    def get_latest_authorised_version(self, product) -> dict | None:
        version_id = getattr(product, "latest_authorised_id", None)
        if version_id is None:
            return None
        return {"id": version_id, "version": product.latest_authorised_version}


class ArtefactCheckSerializer(serializers.ModelSerializer):
    class Meta:
        model = ArtefactCheck
        fields = [
            "id",
            "version",
            "checked_at",
            "result",
            "expected_sha256",
            "found_sha256",
            "found_size",
            "detail",
        ]
        read_only_fields = fields


class SoftwareVersionSerializer(serializers.ModelSerializer):
    """A version as read, and its editable fields on update (release notes; the version name
    while a draft)."""

    product_name = serializers.CharField(source="product.name", read_only=True)
    licence_product = serializers.IntegerField(
        source="product.licence_product_id", read_only=True, allow_null=True
    )
    authorised_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    last_check_result = serializers.CharField(read_only=True, allow_null=True)
    has_artefact = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = SoftwareVersion
        fields = [
            "id",
            "product",
            "product_name",
            "licence_product",
            "version",
            "release_notes",
            "status",
            "status_reason",
            "status_changed_at",
            "has_artefact",
            "artefact_name",
            "size",
            "sha256",
            "authorised_by",
            "authorised_at",
            "created_by",
            "created_at",
            "last_checked_at",
            "last_check_result",
            "download_url",
        ]
        read_only_fields = [
            "product",
            "status",
            "status_reason",
            "status_changed_at",
            "artefact_name",
            "size",
            "sha256",
            "authorised_at",
            "created_at",
            "last_checked_at",
        ]

    def get_has_artefact(self, version) -> bool:
        return bool(version.artefact)

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_download_url(self, version) -> str | None:
        if version.status != VersionStatus.AUTHORISED or not version.artefact:
            return None
        path = reverse("dsl_dhs-api:software-version-download", kwargs={"pk": version.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class SoftwareVersionCreateSerializer(serializers.Serializer):
    """A new draft version: JSON without an artefact, or multipart with the ``artefact`` file and
    optionally its declared ``sha256`` (refused with 400, nothing stored, when it differs)."""

    product = serializers.PrimaryKeyRelatedField(queryset=SoftwareProduct.objects.all())
    version = serializers.CharField(max_length=100)
    release_notes = serializers.CharField(required=False, allow_blank=True, default="")
    artefact = serializers.FileField(
        required=False, allow_empty_file=False, use_url=False, write_only=True
    )
    sha256 = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="The artefact's SHA-256 as you computed it (64 hex characters); checked.",
    )


class ArtefactUploadSerializer(serializers.Serializer):
    artefact = serializers.FileField(allow_empty_file=False, use_url=False)
    sha256 = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The artefact's SHA-256 as you computed it (64 hex characters); checked.",
    )


class StatusChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[
            VersionStatus.AUTHORISED.value,
            VersionStatus.QUARANTINED.value,
            VersionStatus.RETIRED.value,
        ]
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Why; required to quarantine or retire.",
    )


class VerifyResultSerializer(serializers.Serializer):
    check = ArtefactCheckSerializer()
    version = SoftwareVersionSerializer()


class LocationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Location
        fields = ["id", "code", "name", "address"]


class HardwareModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = HardwareModel
        fields = ["id", "manufacturer", "name", "part_number", "kind", "description"]


class StockSerializer(serializers.ModelSerializer):
    """Spares of one model at one location. ``on_hand`` is set at creation; later changes go
    through an update or ``adjust/`` with a ``reason``. ``reserved`` moves only with
    reservations."""

    hardware_model_name = serializers.StringRelatedField(source="hardware_model")
    kind = serializers.CharField(source="hardware_model.kind", read_only=True)
    location_code = serializers.CharField(source="location.code", read_only=True)
    on_hand = serializers.IntegerField(min_value=0, required=False, help_text="0 when not given.")
    free = serializers.IntegerField(source="units_free", read_only=True)
    reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text="Why on_hand changes (required when an update changes it).",
    )

    class Meta:
        model = Stock
        fields = [
            "id",
            "hardware_model",
            "hardware_model_name",
            "kind",
            "location",
            "location_code",
            "on_hand",
            "reserved",
            "free",
            "updated_at",
            "reason",
        ]
        read_only_fields = ["reserved", "updated_at"]
        # Uniqueness of (model, location) is the service's (400 with its message).
        validators = []

    def validate(self, attrs):
        if self.instance is not None:
            for field in ("hardware_model", "location"):
                if field in attrs and attrs[field] != getattr(self.instance, field):
                    raise serializers.ValidationError(
                        {
                            field: "Stock cannot move: create a stock row for the other model or "
                            "location and adjust both counts."
                        }
                    )
        elif "hardware_model" not in attrs or "location" not in attrs:
            missing = [f for f in ("hardware_model", "location") if f not in attrs]
            raise serializers.ValidationError({f: "This field is required." for f in missing})
        return attrs


class StockAdjustSerializer(serializers.Serializer):
    on_hand = serializers.IntegerField(min_value=0)
    reason = serializers.CharField(help_text="Why the count changes: delivery, write-off, …")


class ReservationSerializer(serializers.ModelSerializer):
    hardware_model = serializers.IntegerField(source="stock.hardware_model_id", read_only=True)
    hardware_model_name = serializers.StringRelatedField(source="stock.hardware_model")
    location = serializers.IntegerField(source="stock.location_id", read_only=True)
    location_code = serializers.CharField(source="stock.location.code", read_only=True)
    quantity = serializers.IntegerField(min_value=1)
    reference = serializers.CharField(
        max_length=100, help_text="What the units are for, e.g. a release number."
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Reservation
        fields = [
            "id",
            "stock",
            "hardware_model",
            "hardware_model_name",
            "location",
            "location_code",
            "quantity",
            "reference",
            "note",
            "status",
            "created_at",
            "created_by",
            "closed_at",
        ]
        read_only_fields = ["status", "created_at", "closed_at"]


class ReservationCloseSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")
