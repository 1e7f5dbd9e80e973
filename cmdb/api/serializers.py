from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cmdb.choices import CIStatus, ErrorKind
from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from dsl_dhs.models import Location
from releasemgmt.core.api.serializers import FastRead


class ConfigurationItemSerializer(FastRead, serializers.ModelSerializer):
    location = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Location.objects.all(),
        required=False,
        allow_null=True,
        help_text="Location code, e.g. `dc-north`.",
    )
    location_name = serializers.CharField(source="location.name", read_only=True, allow_null=True)
    hardware_model_name = serializers.CharField(
        source="hardware_model", read_only=True, allow_null=True
    )
    ci_class = serializers.CharField(read_only=True, help_text="hardware, software or service.")
    attributes = serializers.JSONField(
        required=False,
        help_text="Typed attributes of the kind (e.g. `os`, `ip_address`, `cpu_cores` for a "
        "server); unknown names and wrong types are refused naming `attributes.<name>`.",
    )

    class Meta:
        model = ConfigurationItem
        fields = [
            "id",
            "identifier",
            "name",
            "kind",
            "ci_class",
            "status",
            "environment",
            "location",
            "location_name",
            "hardware_model",
            "hardware_model_name",
            "owner",
            "description",
            "attributes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        # Identifier uniqueness (case-insensitive) is checked by the service, naming the field.
        validators = []

    def validate_attributes(self, value):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise serializers.ValidationError("Give the attributes as an object of name → value.")
        return value

    def validate_status(self, value):
        current = self.instance.status if self.instance else None
        if value == CIStatus.RETIRED and current != CIStatus.RETIRED:
            raise serializers.ValidationError(
                "Retire a configuration item with POST …/retire/ and a reason."
            )
        return value


class RetireSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Why it is retired; kept in its history.")


class HistoryChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    before = serializers.CharField()
    after = serializers.CharField()


class HistoryEntrySerializer(serializers.Serializer):
    history_id = serializers.IntegerField(source="record.history_id")
    when = serializers.DateTimeField()
    who = serializers.CharField()
    action = serializers.ChoiceField(choices=["created", "changed", "deleted"])
    reason = serializers.CharField()
    changes = serializers.SerializerMethodField()

    @extend_schema_field(HistoryChangeSerializer(many=True))
    def get_changes(self, entry):
        return [
            {"field": field, "before": before, "after": after}
            for field, before, after in entry.changes
        ]


class HistoryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HistoryEntrySerializer(many=True)


class RelationshipSerializer(serializers.ModelSerializer):
    source_identifier = serializers.CharField(source="source.identifier", read_only=True)
    target_identifier = serializers.CharField(source="target.identifier", read_only=True)
    label = serializers.SerializerMethodField(help_text="“billing runs on web-01”.")
    inverse_label = serializers.CharField(
        read_only=True, help_text="How the target reads it: “hosts”, “is needed by”…"
    )

    class Meta:
        model = Relationship
        fields = [
            "id",
            "source",
            "source_identifier",
            "kind",
            "target",
            "target_identifier",
            "label",
            "inverse_label",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        # Duplicates are a 409 from the service, self links and cycles a 400 naming `target`.
        validators = []

    def get_label(self, relationship) -> str:
        return str(relationship)


class InstalledSoftwareSerializer(serializers.ModelSerializer):
    ci_identifier = serializers.CharField(source="ci.identifier", read_only=True)
    product_name = serializers.CharField(source="product.name", read_only=True)
    version_label = serializers.CharField(source="version.version", read_only=True)
    licence_name = serializers.CharField(source="licence.name", read_only=True, allow_null=True)
    recorded_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    is_current = serializers.BooleanField(read_only=True)
    licence = serializers.PrimaryKeyRelatedField(
        queryset=Licence.objects.all(),
        required=False,
        allow_null=True,
        help_text="Leave empty to allocate a licence with a free seat (when the product needs one).",
    )
    installed_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")

    class Meta:
        model = InstalledSoftware
        fields = [
            "id",
            "ci",
            "ci_identifier",
            "product",
            "product_name",
            "version",
            "version_label",
            "licence",
            "licence_name",
            "installed_at",
            "removed_at",
            "is_current",
            "source",
            "source_reference",
            "recorded_by",
        ]
        read_only_fields = ["product", "removed_at"]
        validators = []


class LicenceSerializer(serializers.ModelSerializer):
    licence_product_name = serializers.CharField(source="licence_product.name", read_only=True)
    seats_in_use = serializers.IntegerField(
        read_only=True, help_text="Counted from current installations; never typed."
    )
    seats_free = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="None for site licences."
    )
    is_over = serializers.BooleanField(read_only=True)
    is_low = serializers.BooleanField(read_only=True)
    is_expired = serializers.BooleanField(read_only=True)

    class Meta:
        model = Licence
        fields = [
            "id",
            "licence_product",
            "licence_product_name",
            "name",
            "metric",
            "seats",
            "seats_in_use",
            "seats_free",
            "is_over",
            "is_low",
            "is_expired",
            "low_seat_threshold",
            "valid_from",
            "valid_until",
            "vendor",
            "contract_reference",
            "notes",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        # Seats and the validity range are checked by the service, naming the field.
        validators = []


class DiscrepancySerializer(serializers.ModelSerializer):
    ci_identifier = serializers.CharField(source="ci.identifier", read_only=True, allow_null=True)
    licence_name = serializers.CharField(source="licence.name", read_only=True, allow_null=True)
    software_version_label = serializers.SerializerMethodField()
    resolved_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    is_open = serializers.BooleanField(read_only=True)
    kind = serializers.ChoiceField(choices=ErrorKind.choices)

    class Meta:
        model = Discrepancy
        fields = [
            "id",
            "category",
            "kind",
            "source",
            "subject",
            "expected",
            "found",
            "ci",
            "ci_identifier",
            "licence",
            "licence_name",
            "software_version",
            "software_version_label",
            "reference",
            "detected_at",
            "is_open",
            "resolved_at",
            "resolved_by",
            "resolution",
        ]
        read_only_fields = [
            "category",
            "source",
            "detected_at",
            "resolved_at",
            "resolved_by",
            "resolution",
        ]

    def get_software_version_label(self, record) -> str | None:
        return str(record.software_version) if record.software_version_id else None


class ResolveSerializer(serializers.Serializer):
    resolution = serializers.CharField(help_text="What was done about it.")
