"""The deployment API: agents fetch their work and report results; ops decide back-outs;
release managers declare freeze windows and start installations by hand."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from cmdb.models import ConfigurationItem
from cmdb.selectors import cis_by_identifiers
from releasemgmt.core.api.permissions import HasPermission
from releasemgmt.core.api.views import ERROR, ServiceModelViewSet, errors
from releasemgmt.core.exceptions import DomainNotFound, DomainValidationError
from releases import selectors
from releases.api.permissions import CanViewRelease
from releases.choices import DistributionState, InstallationState
from releases.models import BackoutOverride, FreezeWindow, Release, ReleaseTarget
from releases.services import agents, failure_conditions, freezes, installation, overrides, reports


class CanReport(HasPermission):
    required = ("releases.report_deployment",)


class AgentEndpoint(APIView):
    """Agents and deployment tools report at fleet rate, often a whole fleet under one service
    account, so a per-user request limit would refuse a healthy rollout. These endpoints are
    limited by their permission and the token's CI scope instead."""

    permission_classes = [CanReport]
    throttle_classes = []


def _check_scope(request, ci_identifier: str) -> None:
    agents.ci_scope_check(getattr(request.auth, "ci_scope", ""), ci_identifier)


class TargetSerializer(serializers.Serializer):
    """A target's progress. Declared field by field rather than from the model: agents fetch it
    with every report, and a model serializer rebuilds its fields from the model each time."""

    id = serializers.IntegerField(read_only=True)
    release = serializers.CharField(source="release.number", read_only=True)
    ci = serializers.CharField(source="ci.identifier", read_only=True)
    distribution_state = serializers.ChoiceField(choices=DistributionState.choices, read_only=True)
    installation_state = serializers.ChoiceField(choices=InstallationState.choices, read_only=True)
    wave = serializers.IntegerField(read_only=True)
    due_at = serializers.DateTimeField(read_only=True, allow_null=True)
    dispatched_at = serializers.DateTimeField(read_only=True, allow_null=True)
    attempts = serializers.IntegerField(read_only=True)
    distributed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    installed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    backed_out_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_report_at = serializers.DateTimeField(read_only=True, allow_null=True)
    detail = serializers.CharField(read_only=True)


class ReportSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["succeeded", "failed", "in_transit", "running"])
    detail = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    report_id = serializers.CharField(max_length=100)
    release = serializers.CharField(
        max_length=20,
        required=False,
        help_text="Optional: the release number the agent believes this is for.",
    )


class ReportResultSerializer(serializers.Serializer):
    report = serializers.IntegerField()
    duplicate = serializers.BooleanField()
    acted = serializers.BooleanField()
    target = TargetSerializer()


REPORT_RESPONSES = {
    200: ReportResultSerializer,
    **errors(400, 404),
    409: OpenApiResponse(
        ERROR,
        description="Recorded but not acted on: the release has halted or is not at that stage (`recorded: true`).",
    ),
}


# Bound once for every report: a serializer instance deep-copies its declared fields, which at
# fleet rate cost more than validating the body and writing the answer. Their fields keep no
# state between calls (run_validation and to_representation), so one instance serves all.
_REPORT_BODY = ReportSerializer()
_REPORT_TARGET = TargetSerializer()


class _ReportView(AgentEndpoint):
    kind = ""

    def post(self, request, pk):
        body = _REPORT_BODY.run_validation(request.data)  # 400 with the fields' errors
        report, created = reports.target_report(
            target_id=pk,
            kind=self.kind,
            status=body["status"],
            report_id=body["report_id"],
            detail=body["detail"],
            by=request.user,
            ci_scope=getattr(request.auth, "ci_scope", ""),
            release_number=body.get("release", ""),
        )
        target = report.target  # as the service left it, with its release and CI
        return Response(
            {
                "report": report.pk,
                "duplicate": not created,
                "acted": report.acted,
                "target": _REPORT_TARGET.to_representation(target),
            }
        )


class DistributionReportView(_ReportView):
    """A distribution result for one target (idempotent on `report_id`)."""

    kind = "distribution"

    @extend_schema(request=ReportSerializer, responses=REPORT_RESPONSES)
    def post(self, request, pk):
        return super().post(request, pk)


class InstallationReportView(_ReportView):
    """An installation result for one target (idempotent on `report_id`); may trigger the back-out."""

    kind = "installation"

    @extend_schema(request=ReportSerializer, responses=REPORT_RESPONSES)
    def post(self, request, pk):
        return super().post(request, pk)


class BackoutReportView(_ReportView):
    """A back-out result for one target (idempotent on `report_id`)."""

    kind = "backout"

    @extend_schema(request=ReportSerializer, responses=REPORT_RESPONSES)
    def post(self, request, pk):
        return super().post(request, pk)


def _ci(identifier: str) -> ConfigurationItem:
    ci = cis_by_identifiers([identifier]).get((identifier or "").lower())
    if ci is None:
        raise DomainNotFound(f"No configuration item {identifier!r}.")
    return ci


class AgentWorkView(AgentEndpoint):
    """`GET /api/v1/agent/work/?ci=<identifier>`: downloads, installations and back-outs due."""

    @extend_schema(
        parameters=[
            OpenApiParameter("ci", str, required=True, description="The target's identifier")
        ],
        responses={
            200: inline_serializer(
                "AgentWork",
                {
                    "ci": serializers.CharField(),
                    "downloads": serializers.ListField(child=serializers.DictField()),
                    "installations": serializers.ListField(child=serializers.DictField()),
                    "backouts": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **errors(400, 404),
        },
    )
    def get(self, request):
        identifier = request.query_params.get("ci", "")
        if not identifier:
            raise DomainValidationError({"ci": "Give the target's identifier: ?ci=web-01."})
        _check_scope(request, identifier)
        ci = _ci(identifier)
        work = selectors.agent_work(ci)

        def artefacts(target, attr):
            rows = []
            for item in target.release.items.all():
                version = getattr(item, attr)
                if version is None:
                    continue
                rows.append(
                    {
                        "product": version.product.name,
                        "version": version.version,
                        "sha256": version.sha256,
                        "size": version.size,
                        "url": reverse(
                            "dsl_dhs-api:software-version-download",
                            args=[version.pk],
                            request=request,
                        ),
                    }
                )
            return rows

        def entry(target, attr, report):
            return {
                "target": target.pk,
                "release": target.release.number,
                # a retried installation is a new attempt: its report needs a new report_id
                "attempt": target.attempts,
                "artefacts": artefacts(target, attr),
                "report": reverse(
                    f"releases-deployment:target-{report}", args=[target.pk], request=request
                ),
            }

        return Response(
            {
                "ci": ci.identifier,
                "downloads": [
                    entry(t, "software_version", "distribution") for t in work["downloads"]
                ],
                "installations": [
                    entry(t, "software_version", "installation") for t in work["installations"]
                ],
                "backouts": [entry(t, "restore_version", "backout") for t in work["backouts"]],
            }
        )


class HeartbeatSerializer(serializers.Serializer):
    ci = serializers.CharField(max_length=100)
    login_count = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    agent_version = serializers.CharField(
        max_length=50, required=False, allow_blank=True, default=""
    )


class AgentHeartbeatView(AgentEndpoint):
    """`POST /api/v1/agent/heartbeat/`: the agent is alive; how many users are logged in."""

    @extend_schema(
        request=HeartbeatSerializer,
        responses={200: HeartbeatSerializer, **errors(400, 404)},
    )
    def post(self, request):
        body = HeartbeatSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _check_scope(request, body.validated_data["ci"])
        ci = _ci(body.validated_data["ci"])
        agents.agent_heartbeat(
            ci=ci,
            login_count=body.validated_data.get("login_count"),
            agent_version=body.validated_data["agent_version"],
        )
        return Response(
            {
                "ci": ci.identifier,
                "login_count": body.validated_data.get("login_count"),
                "agent_version": body.validated_data["agent_version"],
            }
        )


class HealthSignalSerializer(serializers.Serializer):
    signal = serializers.CharField(max_length=100)
    status = serializers.ChoiceField(choices=["ok", "failed"])
    detail = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class HealthSignalView(APIView):
    """`POST /api/v1/releases/{id}/health-signals/`: an external health check's verdict; a failed
    signal the release declared as a failure condition requires the back-out."""

    permission_classes = [CanReport]

    @extend_schema(
        request=HealthSignalSerializer,
        responses={
            200: inline_serializer("HealthSignalResult", {"state": serializers.CharField()}),
            **errors(400, 404),
        },
    )
    def post(self, request, pk):
        release = get_object_or_404(Release, pk=pk)
        body = HealthSignalSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        release = failure_conditions.health_signal_report(
            release=release, by=request.user, **body.validated_data
        )
        return Response({"state": release.state})


class TargetListView(ListAPIView):
    """`GET /api/v1/release-targets/?release=<id>`: per-target progress (paginated, filterable)."""

    serializer_class = TargetSerializer
    permission_classes = [CanViewRelease]
    filterset_fields = ["release", "distribution_state", "installation_state", "wave"]
    search_fields = ["ci__identifier"]

    def get_queryset(self):
        return ReleaseTarget.objects.select_related("release", "ci").order_by(
            "release_id", "ci__identifier"
        )

    @extend_schema(responses={200: TargetSerializer(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class InstallNowSerializer(serializers.Serializer):
    freeze_override_reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )
    confirm_outside_window = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Go ahead although now is outside the installation window (with "
        "`outside_window_reason`; refused when the release's category refuses it).",
    )
    outside_window_reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )


class InstallNowView(APIView):
    """`POST /api/v1/release-targets/{id}/install-now/`: the manual trigger."""

    permission_classes = [CanViewRelease]

    @extend_schema(
        request=InstallNowSerializer,
        responses={
            200: TargetSerializer,
            409: OpenApiResponse(
                ERROR,
                description="Not installing, already started, frozen, or outside the "
                "installation window without a confirmation.",
            ),
            **errors(400, 404),
        },
    )
    def post(self, request, pk):
        target = get_object_or_404(ReleaseTarget, pk=pk)
        body = InstallNowSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        target = installation.target_install_now(
            target=target, by=request.user, **body.validated_data
        )
        return Response(TargetSerializer(target).data)


class RetryFailedResultSerializer(serializers.Serializer):
    retried = serializers.IntegerField(help_text="How many failed installations run again now.")
    state = serializers.CharField()
    count_install_failed = serializers.IntegerField()


class RetryFailedTargetsView(APIView):
    """`POST /api/v1/releases/{id}/retry-failed-targets/`: run every failed installation of an
    installing release again now, each a new attempt (`attempts`); the way on after an override."""

    permission_classes = [CanViewRelease]

    @extend_schema(
        request=InstallNowSerializer,
        responses={
            200: RetryFailedResultSerializer,
            409: OpenApiResponse(
                ERROR, description="Not installing, nothing failed, or a freeze is in force."
            ),
            **errors(400, 404),
        },
    )
    def post(self, request, pk):
        release = get_object_or_404(Release, pk=pk)
        body = InstallNowSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        retried = installation.release_retry_failed_targets(
            release=release, by=request.user, **body.validated_data
        )
        release.refresh_from_db(fields=["state", "count_install_failed"])
        return Response(
            {
                "retried": retried,
                "state": release.state,
                "count_install_failed": release.count_install_failed,
            }
        )


class OverrideSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    confirmed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = BackoutOverride
        fields = [
            "id",
            "release",
            "status",
            "reason",
            "requested_by",
            "requested_at",
            "confirmed_by",
            "confirmed_at",
        ]
        read_only_fields = [
            "id",
            "release",
            "status",
            "requested_by",
            "requested_at",
            "confirmed_by",
            "confirmed_at",
        ]


class OverrideRequestView(APIView):
    """`POST /api/v1/releases/{id}/overrides/` `{"reason"}`: ask to continue; a second person confirms."""

    permission_classes = [CanViewRelease]

    @extend_schema(
        request=OverrideSerializer,
        responses={
            201: OverrideSerializer,
            409: OpenApiResponse(
                ERROR, description="Not waiting for a decision, or an override is already pending."
            ),
            **errors(400, 404),
        },
    )
    def post(self, request, pk):
        release = get_object_or_404(Release, pk=pk)
        body = OverrideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        override = overrides.backout_override_request(
            release=release, by=request.user, reason=body.validated_data["reason"]
        )
        return Response(OverrideSerializer(override).data, status=status.HTTP_201_CREATED)


class OverrideConfirmView(APIView):
    """`POST /api/v1/overrides/{id}/confirm/`: a different person with the override permission confirms."""

    permission_classes = [CanViewRelease]

    @extend_schema(
        request=None,
        responses={
            200: OverrideSerializer,
            409: OpenApiResponse(ERROR, description="Already confirmed or withdrawn."),
            **errors(404),
        },
    )
    def post(self, request, pk):
        override = get_object_or_404(BackoutOverride, pk=pk)
        overrides.backout_override_confirm(override=override, by=request.user)
        override.refresh_from_db()
        return Response(OverrideSerializer(override).data)


class BackoutProgressSerializer(serializers.Serializer):
    """A release's targets while it waits for a decision or backs out: the queue page's bar."""

    targets = serializers.IntegerField()
    installed = serializers.IntegerField()
    failed = serializers.IntegerField()
    halted = serializers.IntegerField()
    running = serializers.IntegerField()
    backing_out = serializers.IntegerField()
    backed_out = serializers.IntegerField()
    backout_failed = serializers.IntegerField()
    to_restore = serializers.IntegerField()
    restored_percent = serializers.FloatField()


class BackoutQueueItemSerializer(serializers.ModelSerializer):
    release_unit = serializers.SlugRelatedField(slug_field="identifier", read_only=True)
    target_total = serializers.IntegerField()
    open_override = serializers.SerializerMethodField()
    progress = BackoutProgressSerializer(read_only=True)

    class Meta:
        model = Release
        fields = [
            "id",
            "number",
            "title",
            "state",
            "release_unit",
            "backout_condition",
            "backout_figures",
            "backout_required_at",
            "backout_deadline",
            "backout_started_automatically",
            "target_total",
            "count_installed",
            "count_install_failed",
            "count_backed_out",
            "count_backout_failed",
            "open_override",
            "progress",
        ]
        read_only_fields = fields

    def get_open_override(self, release) -> dict | None:
        overrides = getattr(release, "open_overrides", [])
        return OverrideSerializer(overrides[0]).data if overrides else None


class BackoutQueueView(ListAPIView):
    """`GET /api/v1/backout-queue/`: releases waiting for a back-out decision, and those backing out."""

    serializer_class = BackoutQueueItemSerializer
    permission_classes = [CanViewRelease]
    filter_backends = []

    def get_queryset(self):
        return selectors.backout_queue_with_progress()

    @extend_schema(responses={200: BackoutQueueItemSerializer(many=True), **errors()})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class FreezeWindowSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = FreezeWindow
        fields = [
            "id",
            "start",
            "end",
            "scope",
            "environment",
            "release_unit",
            "reason",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "created_by", "created_at"]


@extend_schema_view(
    list=extend_schema(responses={200: FreezeWindowSerializer(many=True), **errors(404)}),
    retrieve=extend_schema(responses={200: FreezeWindowSerializer, **errors(404)}),
    create=extend_schema(responses={201: FreezeWindowSerializer, **errors(400, 404)}),
    update=extend_schema(responses={200: FreezeWindowSerializer, **errors(400, 404)}),
    partial_update=extend_schema(responses={200: FreezeWindowSerializer, **errors(400, 404)}),
    destroy=extend_schema(responses={204: None, **errors(404)}),
)
class FreezeWindowViewSet(ServiceModelViewSet):
    """Freeze windows: no installation is scheduled or started inside one (in its scope)."""

    queryset = FreezeWindow.objects.select_related("created_by").order_by("start")
    serializer_class = FreezeWindowSerializer
    filterset_fields = ["scope", "environment", "release_unit"]
    search_fields = ["reason"]
    create_service = freezes.freeze_window_create
