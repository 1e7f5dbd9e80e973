from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from releasemgmt.core.api.views import ERROR, AuditedModelViewSet, errors
from releasemgmt.core.converters import ID_REGEX
from releasemgmt.core.services import record_save
from releases import selectors, services
from releases.api import serializers as s
from releases.api.permissions import CanEditPlan, CanViewRelease
from releases.filtersets import ChangeRequestFilterSet, ReleaseFilterSet
from releases.models import (
    ChangeRequest,
    FailureCondition,
    Release,
    ReleaseCategory,
    ReleaseItem,
    RolloutTask,
    TestScopeItem,
)

CONFLICT = OpenApiResponse(
    s.TransitionRefusedSerializer,
    description="Not allowed in the current state, or its conditions are not met: `available_transitions` and `problems` say what is possible.",
)
FROZEN = OpenApiResponse(
    ERROR, description="The plan is frozen (accepted or later); replan to change it."
)


@extend_schema_view(
    list=extend_schema(responses={200: s.ReleaseListSerializer(many=True), **errors(400, 404)}),
    retrieve=extend_schema(responses={200: s.ReleaseDetailSerializer, **errors(404)}),
    create=extend_schema(
        request=s.ReleaseWriteSerializer,
        responses={201: s.ReleaseDetailSerializer, **errors(400, 404)},
    ),
    partial_update=extend_schema(
        request=s.ReleaseWriteSerializer,
        responses={200: s.ReleaseDetailSerializer, 409: FROZEN, **errors(400, 404)},
    ),
    update=extend_schema(
        request=s.ReleaseWriteSerializer,
        responses={200: s.ReleaseDetailSerializer, 409: FROZEN, **errors(400, 404)},
    ),
)
class ReleaseViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Releases. The state moves only through `POST /releases/{id}/transitions/{name}/`; the plan is
    edited while the release is requested or planned."""

    queryset = Release.objects.all()  # the model, for permissions; get_queryset reads
    filterset_class = ReleaseFilterSet
    ordering_fields = ["created_at", "number", "installation_start", "state_changed_at"]

    def get_queryset(self):
        if self.action == "list":  # rows of the columns the list shows, no model instances
            return selectors.release_list_rows()
        return Release.objects.all()

    def get_serializer_class(self):
        if self.action == "list":
            return s.ReleaseListSerializer
        if self.action in ("create", "update", "partial_update"):
            return s.ReleaseWriteSerializer
        return s.ReleaseDetailSerializer

    def _detail(self, release, code=status.HTTP_200_OK):
        release = selectors.release_detail(release.pk, with_targets=False)
        return Response(
            s.ReleaseDetailSerializer(release, context=self.get_serializer_context()).data,
            status=code,
        )

    def retrieve(self, request, *args, **kwargs):
        release = get_object_or_404(Release, pk=kwargs["pk"])
        return self._detail(release)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        release = services.release_create(
            by=request.user, change_requests=data.pop("change_requests", ()), **data
        )
        return self._detail(release, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        release = get_object_or_404(Release, pk=kwargs["pk"])
        serializer = self.get_serializer(
            release, data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        release = services.release_update_plan(
            release=release,
            by=request.user,
            change_requests=data.pop("change_requests", None),
            **data,
        )
        return self._detail(release)

    @extend_schema(
        request=s.TransitionRequestSerializer,
        responses={200: s.ReleaseDetailSerializer, 409: CONFLICT, **errors(400, 404)},
        parameters=[
            OpenApiParameter("name", str, OpenApiParameter.PATH, enum=list(services.TRANSITIONS))
        ],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"transitions/(?P<name>[a-z_]+)",
        permission_classes=[CanViewRelease],
    )
    def transition(self, request, pk=None, name=None):
        """Take a transition; 403 without its permission, 409 with the allowed ones when the state
        or the conditions do not allow it. `distribute` and `install` outside the plan's window
        need `confirm_outside_window` and a `reason` (409 without, or always when the category
        refuses it); in a four-eyes category `verify` and `review` are 409 for the release's
        owner; `review` needs `review.outcome` (400 without)."""
        get_object_or_404(Release, pk=pk)
        body = s.TransitionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        release = services.release_transition(
            release=int(pk),
            name=name,
            by=request.user,
            reason=body.validated_data["reason"],
            details=body.details(),
        )
        return self._detail(release)

    @extend_schema(responses={200: s.ReleaseTransitionSerializer(many=True), **errors(404)})
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[CanViewRelease],
        # Paginated like every list (`page`, `page_size`), oldest first; the release list's
        # filters do not apply to one release's timeline.
        filter_backends=[],
    )
    def history(self, request, pk=None):
        """Every transition taken: who, when, from, to and why, oldest first."""
        release = get_object_or_404(Release, pk=pk)
        page = self.paginate_queryset(release.transitions.order_by("at", "id"))
        return self.get_paginated_response(s.ReleaseTransitionSerializer(page, many=True).data)

    @extend_schema(
        request=s.ReleaseItemWriteSerializer,
        responses={200: s.ReleaseDetailSerializer, 409: FROZEN, **errors(400, 404)},
    )
    @action(detail=True, methods=["post"], permission_classes=[CanEditPlan])
    def items(self, request, pk=None):
        """Add a DSL version or DHS hardware to the contents (refused when it contradicts the level)."""
        release = get_object_or_404(Release, pk=pk)
        body = s.ReleaseItemWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.release_item_add(release=release, by=request.user, **body.validated_data)
        return self._detail(release)

    @extend_schema(
        request=None, responses={200: s.ReleaseDetailSerializer, 409: FROZEN, **errors(404)}
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=rf"items/(?P<item_id>{ID_REGEX})",
        permission_classes=[CanEditPlan],
    )
    def remove_item(self, request, pk=None, item_id=None):
        item = get_object_or_404(ReleaseItem, pk=item_id, release_id=pk)
        services.release_item_remove(item=item, by=request.user)
        return self._detail(item.release)

    @extend_schema(
        request=s.TargetsWriteSerializer,
        responses={200: s.ReleaseDetailSerializer, 409: FROZEN, **errors(400, 404)},
    )
    @action(detail=True, methods=["put"], permission_classes=[CanEditPlan])
    def targets(self, request, pk=None):
        """Replace the target CIs (ids or identifiers)."""
        release = get_object_or_404(Release, pk=pk)
        body = s.TargetsWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.release_targets_set(
            release=release, cis=body.validated_data["cis"], by=request.user
        )
        return self._detail(release)

    @extend_schema(
        request=s.BackoutPlanWriteSerializer,
        responses={200: s.ReleaseDetailSerializer, 409: FROZEN, **errors(400, 404)},
    )
    @action(detail=True, methods=["put"], url_path="backout-plan", permission_classes=[CanEditPlan])
    def backout_plan(self, request, pk=None):
        """Replace the back-out plan's steps."""
        release = get_object_or_404(Release, pk=pk)
        body = s.BackoutPlanWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.release_backout_plan_set(
            release=release, steps=body.validated_data["steps"], by=request.user
        )
        return self._detail(release)

    @extend_schema(
        request=s.FailureConditionSerializer,
        responses={200: s.ReleaseDetailSerializer, 409: FROZEN, **errors(400, 404)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="failure-conditions",
        permission_classes=[CanEditPlan],
    )
    def failure_conditions(self, request, pk=None):
        """Declare a failure condition."""
        release = get_object_or_404(Release, pk=pk)
        body = s.FailureConditionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.release_failure_condition_add(
            release=release, by=request.user, **body.validated_data
        )
        return self._detail(release)

    @extend_schema(
        request=None, responses={200: s.ReleaseDetailSerializer, 409: FROZEN, **errors(404)}
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=rf"failure-conditions/(?P<condition_id>{ID_REGEX})",
        permission_classes=[CanEditPlan],
    )
    def remove_failure_condition(self, request, pk=None, condition_id=None):
        condition = get_object_or_404(FailureCondition, pk=condition_id, release_id=pk)
        services.release_failure_condition_remove(condition=condition, by=request.user)
        return self._detail(condition.release)

    @extend_schema(
        request=s.SignOffSerializer,
        responses={
            200: s.ReleaseDetailSerializer,
            409: OpenApiResponse(ERROR, description="Not in testing, or the test is waived."),
            **errors(400, 404),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=rf"tests/(?P<test_id>{ID_REGEX})/sign-off",
        permission_classes=[CanViewRelease],
    )
    def sign_off(self, request, pk=None, test_id=None):
        """Record a test result with its evidence (permission `releases.test_release`)."""
        test = get_object_or_404(TestScopeItem, pk=test_id, release_id=pk)
        body = s.SignOffSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.test_item_sign_off(item=test, by=request.user, **body.validated_data)
        return self._detail(test.release)

    @extend_schema(
        request=None,
        responses={
            200: s.ReleaseDetailSerializer,
            409: OpenApiResponse(
                ERROR, description="The roll-out is not planned, or the task is not pending."
            ),
            **errors(404),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=rf"rollout-tasks/(?P<task_id>{ID_REGEX})/done",
        permission_classes=[CanViewRelease],
    )
    def rollout_task_done(self, request, pk=None, task_id=None):
        task = get_object_or_404(RolloutTask, pk=task_id, release_id=pk)
        services.rollout_task_complete(task=task, by=request.user)
        return self._detail(task.release)


@extend_schema_view(
    list=extend_schema(responses={200: s.ChangeRequestSerializer(many=True), **errors(404)}),
    retrieve=extend_schema(responses={200: s.ChangeRequestSerializer, **errors(404)}),
    create=extend_schema(
        responses={
            201: s.ChangeRequestSerializer,
            409: OpenApiResponse(ERROR, description="Already recorded for that source."),
            **errors(400, 404),
        }
    ),
)
class ChangeRequestViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Change requests (from change-management systems, or entered by hand) with their releases."""

    serializer_class = s.ChangeRequestSerializer
    filterset_class = ChangeRequestFilterSet

    def get_queryset(self):
        return selectors.change_request_list().prefetch_related("releases")

    def perform_create(self, serializer):
        with transaction.atomic():
            serializer.instance = record_save(
                instance=ChangeRequest(**serializer.validated_data), actor=self.request.user
            )


@extend_schema_view(
    list=extend_schema(responses={200: s.ReleaseCategorySerializer(many=True), **errors(404)}),
    retrieve=extend_schema(responses={200: s.ReleaseCategorySerializer, **errors(404)}),
    create=extend_schema(responses={201: s.ReleaseCategorySerializer, **errors(400, 404)}),
    update=extend_schema(responses={200: s.ReleaseCategorySerializer, **errors(400, 404)}),
    partial_update=extend_schema(responses={200: s.ReleaseCategorySerializer, **errors(400, 404)}),
    destroy=extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(ERROR, description="Still used by releases."),
            **errors(404),
        }
    ),
)
class ReleaseCategoryViewSet(AuditedModelViewSet):
    """Release categories: the policies that waive roll-out tasks or the back-out rehearsal,
    refuse or ask a confirmation for work outside the plan's windows, and ask for four eyes."""

    queryset = ReleaseCategory.objects.all()
    serializer_class = s.ReleaseCategorySerializer
    search_fields = ["name"]
