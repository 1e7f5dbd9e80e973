from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from cmdb.models import ConfigurationItem
from cmdb.selectors import cis_by_identifiers
from dsl_dhs.models import HardwareModel, SoftwareVersion
from releasemgmt.core.api.serializers import FastRead
from releasemgmt.core.converters import as_id
from releases.choices import FailureConditionKind, Outcome, ReviewOutcome, TestResult
from releases.models import (
    BackoutStep,
    ChangeRequest,
    FailureCondition,
    Release,
    ReleaseCategory,
    ReleaseItem,
    ReleaseReview,
    ReleaseTarget,
    ReleaseTransition,
    RolloutTask,
    TestScopeItem,
)
from releases.services import available_transitions
from releases.services.planning import PLAN_FIELDS


class ChangeRequestBriefSerializer(FastRead, serializers.ModelSerializer):
    class Meta:
        model = ChangeRequest
        fields = ["id", "number", "title", "state", "source_system"]


class ReleaseBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Release
        fields = ["id", "number", "title", "state", "level"]


class ChangeRequestSerializer(serializers.ModelSerializer):
    releases = ReleaseBriefSerializer(many=True, read_only=True)

    class Meta:
        model = ChangeRequest
        fields = [
            "id",
            "source_system",
            "external_id",
            "number",
            "title",
            "state",
            "change_type",
            "planned_start",
            "planned_end",
            "url",
            "source_version",
            "releases",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["releases", "created_at", "updated_at"]


class ReleaseCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = ReleaseCategory
        fields = [
            "id",
            "name",
            "description",
            "waives_communication",
            "waives_training",
            "waives_backout_rehearsal",
            "outside_window",
            "four_eyes",
        ]


class ReleaseListSerializer(FastRead, serializers.ModelSerializer):
    release_unit = serializers.SlugRelatedField(slug_field="identifier", read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    category = serializers.SlugRelatedField(slug_field="name", read_only=True)
    change_requests = ChangeRequestBriefSerializer(source="change_list", many=True, read_only=True)
    item_count = serializers.IntegerField(read_only=True)
    target_count = serializers.IntegerField(read_only=True)
    # Read-only copies of blank-able model fields: DRF drops ``allow_blank`` from read-only
    # fields, and "" (not yet ended, no URL) is what they hold until set.
    outcome = serializers.ChoiceField(choices=Outcome.choices, read_only=True, allow_blank=True)

    class Meta:
        model = Release
        fields = [
            "id",
            "number",
            "title",
            "state",
            "level",
            "category",
            "release_unit",
            "owner",
            "trigger",
            "trigger_reference",
            "change_requests",
            "installation_start",
            "installation_end",
            "item_count",
            "target_count",
            "outcome",
            "created_at",
            "state_changed_at",
        ]
        read_only_fields = fields


class ReleaseItemSerializer(serializers.ModelSerializer):
    product = serializers.CharField(
        source="software_version.product.name", read_only=True, allow_null=True
    )
    version = serializers.CharField(
        source="software_version.version", read_only=True, allow_null=True
    )
    replaces = serializers.CharField(
        source="replaces_version.version", read_only=True, allow_null=True
    )
    restores = serializers.CharField(
        source="restore_version.version", read_only=True, allow_null=True
    )
    change_request = serializers.SlugRelatedField(slug_field="number", read_only=True)

    class Meta:
        model = ReleaseItem
        fields = [
            "id",
            "kind",
            "software_version",
            "product",
            "version",
            "replaces_version",
            "replaces",
            "restore_version",
            "restores",
            "hardware_model",
            "quantity",
            "change_request",
            "changed",
        ]
        read_only_fields = fields


class ReleaseItemWriteSerializer(serializers.Serializer):
    software_version = serializers.PrimaryKeyRelatedField(
        queryset=SoftwareVersion.objects.select_related("product"), required=False, allow_null=True
    )
    hardware_model = serializers.PrimaryKeyRelatedField(
        queryset=HardwareModel.objects.all(), required=False, allow_null=True
    )
    quantity = serializers.IntegerField(min_value=1, default=1)
    replaces_version = serializers.PrimaryKeyRelatedField(
        queryset=SoftwareVersion.objects.all(), required=False, allow_null=True
    )
    restore_version = serializers.PrimaryKeyRelatedField(
        queryset=SoftwareVersion.objects.all(), required=False, allow_null=True
    )
    change_request = serializers.PrimaryKeyRelatedField(
        queryset=ChangeRequest.objects.all(), required=False, allow_null=True
    )


TARGETS_SHOWN = 200


class ReleaseTargetSerializer(serializers.ModelSerializer):
    identifier = serializers.CharField(source="ci.identifier", read_only=True)
    status = serializers.CharField(source="ci.status", read_only=True)

    class Meta:
        model = ReleaseTarget
        fields = ["id", "ci", "identifier", "status"]
        read_only_fields = fields


class TargetsWriteSerializer(serializers.Serializer):
    cis = serializers.ListField(
        child=serializers.CharField(max_length=100),
        allow_empty=True,
        max_length=50000,
        help_text="CI ids or identifiers; replaces the current targets.",
    )

    def validate_cis(self, values):
        ids = {as_id(v) for v in values} - {None}
        found = list(cis_by_identifiers(v for v in values if as_id(v) is None).values())
        if ids:
            found += ConfigurationItem.objects.filter(pk__in=ids).exclude(
                pk__in=[ci.pk for ci in found]
            )
        known = {str(ci.pk) for ci in found} | {ci.identifier.lower() for ci in found}
        missing = [v for v in values if v.lower() not in known]
        if missing:
            raise serializers.ValidationError(f"Unknown CIs: {', '.join(missing[:20])}.")
        return found


class FailureConditionSerializer(serializers.ModelSerializer):
    summary = serializers.CharField(source="__str__", read_only=True)

    class Meta:
        model = FailureCondition
        fields = ["id", "kind", "threshold", "parameters", "description", "summary"]
        read_only_fields = ["id", "summary"]
        extra_kwargs = {"kind": {"choices": FailureConditionKind.choices}}


class BackoutStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = BackoutStep
        fields = ["position", "description"]
        read_only_fields = fields


class BackoutPlanWriteSerializer(serializers.Serializer):
    steps = serializers.ListField(
        child=serializers.CharField(max_length=2000), min_length=1, max_length=200
    )


class TestScopeItemSerializer(serializers.ModelSerializer):
    signed_off_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = TestScopeItem
        fields = [
            "id",
            "kind",
            "item",
            "title",
            "result",
            "evidence",
            "signed_off_by",
            "signed_off_at",
        ]
        read_only_fields = fields


class SignOffSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=[TestResult.PASSED, TestResult.FAILED])
    evidence = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class RolloutTaskSerializer(serializers.ModelSerializer):
    done_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RolloutTask
        fields = ["id", "kind", "description", "status", "done_by", "done_at"]
        read_only_fields = fields


class ReleaseTransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReleaseTransition
        fields = ["id", "name", "source", "target", "at", "by_name", "reason", "details"]
        read_only_fields = fields


class AvailableTransitionSerializer(serializers.Serializer):
    """A transition the caller may ask for now (never one reserved to the system)."""

    name = serializers.CharField()
    ready = serializers.BooleanField(
        help_text="Whether taking it now would succeed as far as can be told without taking it."
    )
    problems = serializers.ListField(
        child=serializers.CharField(),
        help_text="What stops it now (empty when ready): the sentences a 409 would give.",
    )
    reason_required = serializers.BooleanField(help_text="A `reason` must be given (400 without).")


class ReleaseReviewSerializer(serializers.ModelSerializer):
    """The post-implementation review, as recorded by `review`."""

    reviewed_by = serializers.CharField(source="reviewed_by_name", read_only=True)

    class Meta:
        model = ReleaseReview
        fields = [
            "outcome",
            "went_well",
            "went_badly",
            "follow_up_actions",
            "reviewed_by",
            "reviewed_at",
        ]
        read_only_fields = fields


class ReleaseDetailSerializer(ReleaseListSerializer):
    """One release as the API shows it: state is read-only (it moves only by transitions)."""

    available_transitions = serializers.SerializerMethodField(
        help_text="What the caller can do now: each transition they may ask for from this state "
        "(never one reserved to the system), whether it is `ready` and, when not, its "
        "`problems` — the sentences a 409 would give."
    )
    change_requests = ChangeRequestBriefSerializer(many=True, read_only=True)
    items = ReleaseItemSerializer(many=True, read_only=True)
    targets = serializers.SerializerMethodField(
        help_text=f"The first {TARGETS_SHOWN} targets by CI identifier; `target_count` is the "
        "total and `targets_url` pages through all of them with their progress."
    )
    # The contents are prefetched with the release: counted without a query.
    item_count = serializers.IntegerField(source="items.count", read_only=True)
    target_count = serializers.IntegerField(source="count_targets", read_only=True)
    project_url = serializers.URLField(read_only=True, allow_blank=True)
    targets_url = serializers.SerializerMethodField()
    failure_conditions = FailureConditionSerializer(many=True, read_only=True)
    backout_steps = BackoutStepSerializer(many=True, read_only=True)
    test_scope = TestScopeItemSerializer(many=True, read_only=True)
    rollout_tasks = RolloutTaskSerializer(many=True, read_only=True)
    review = ReleaseReviewSerializer(
        source="implementation_review",
        read_only=True,
        allow_null=True,
        help_text="The post-implementation review; null until `review` is taken.",
    )

    class Meta(ReleaseListSerializer.Meta):
        fields = [
            *ReleaseListSerializer.Meta.fields,
            "description",
            "project_key",
            "project_url",
            "distribution_start",
            "distribution_end",
            "backout_decision_minutes",
            "distribution_method",
            "deployment_tool",
            "installation_mode",
            "wave_size",
            "wave_interval_minutes",
            "login_threshold",
            "count_distributed",
            "count_distribution_failed",
            "count_installed",
            "count_install_failed",
            "count_backed_out",
            "count_backout_failed",
            "backout_required_at",
            "backout_deadline",
            "backout_condition",
            "backout_figures",
            "backout_started_automatically",
            "available_transitions",
            "items",
            "target_count",
            "targets_url",
            "targets",
            "failure_conditions",
            "backout_steps",
            "test_scope",
            "rollout_tasks",
            "review",
        ]
        read_only_fields = fields

    @extend_schema_field(ReleaseTargetSerializer(many=True))
    def get_targets(self, release) -> list[dict]:
        # a release can have tens of thousands: the detail shows a first page, never all
        shown = release.targets.select_related("ci").order_by("ci__identifier")[:TARGETS_SHOWN]
        return ReleaseTargetSerializer(shown, many=True).data

    def get_targets_url(self, release) -> str:
        url = reverse("releases-deployment:target-list", request=self.context.get("request"))
        return f"{url}?release={release.pk}"

    @extend_schema_field(AvailableTransitionSerializer(many=True))
    def get_available_transitions(self, release) -> list[dict]:
        request = self.context.get("request")
        return available_transitions(release, request.user if request else None)


class ReleaseWriteSerializer(serializers.ModelSerializer):
    """Create a release, or change its plan fields while the plan is editable."""

    release_unit = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.all(), required=False, allow_null=True
    )
    change_requests = serializers.PrimaryKeyRelatedField(
        queryset=ChangeRequest.objects.all(), many=True, required=False
    )

    class Meta:
        model = Release
        # The plan fields the service accepts, and the linked changes.
        fields = [*PLAN_FIELDS, "change_requests"]


class ReviewWriteSerializer(serializers.Serializer):
    """The post-implementation review that `review` records: the outcome is required."""

    outcome = serializers.ChoiceField(choices=ReviewOutcome.choices)
    went_well = serializers.CharField(
        max_length=10000, required=False, allow_blank=True, default=""
    )
    went_badly = serializers.CharField(
        max_length=10000, required=False, allow_blank=True, default=""
    )
    follow_up_actions = serializers.ListField(
        child=serializers.CharField(max_length=1000, allow_blank=True),
        max_length=100,
        required=False,
        default=list,
        help_text="What is to be done next, one text each.",
    )


class TransitionRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    confirm_outside_window = serializers.BooleanField(
        required=False,
        default=False,
        help_text="`distribute`, `install`: go ahead although now is outside the plan's window "
        "(with a `reason`; refused when the release's category refuses it).",
    )
    review = ReviewWriteSerializer(
        required=False,
        help_text="`review`: the post-implementation review (its `outcome` is required).",
    )

    def details(self) -> dict:
        """What the transition service takes besides the reason."""
        data = self.validated_data
        details = {}
        if data.get("confirm_outside_window"):
            details["confirm_outside_window"] = True
        if "review" in data:
            details["review"] = dict(data["review"])
        return details


class TransitionRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    state = serializers.CharField()
    available_transitions = AvailableTransitionSerializer(
        many=True, help_text="What the caller can do instead, each with what stops it."
    )
    problems = serializers.ListField(child=serializers.CharField(), required=False)
