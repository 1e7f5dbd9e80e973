"""Admin for raw data. Releases, their targets and change requests are shown, not edited: a
release moves only through its transitions and its plan changes through the plan service (the
pages and the API), with their checks and audit events. Reports, overrides, verification runs
and the timeline are evidence. Reference data (categories, unit components, freeze windows) is
edited here with an audit event."""

from django.contrib import admin

from releasemgmt.core.admin_base import AuditedAdmin, ReadOnlyAdmin
from releases.models import (
    BackoutOverride,
    ChangeRequest,
    DeploymentReport,
    FreezeWindow,
    Release,
    ReleaseCategory,
    ReleaseItem,
    ReleaseTarget,
    ReleaseTransition,
    UnitComponent,
    VerificationRun,
)
from releases.webhooks.admin import register as register_webhooks

register_webhooks()


class ReleaseItemInline(admin.TabularInline):
    """The contents change through the plan service (level rules, authorised versions)."""

    model = ReleaseItem
    extra = 0
    can_delete = False
    raw_id_fields = [
        "software_version",
        "replaces_version",
        "restore_version",
        "hardware_model",
        "change_request",
    ]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReleaseTransitionInline(admin.TabularInline):
    model = ReleaseTransition
    extra = 0
    fields = ["at", "name", "source", "target", "by_name", "reason"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    """Read-only: the state, the timestamps and outcome set by transitions, the counters kept by
    deployment reports and the back-out record belong to the state machine; the plan changes
    through ``release_update_plan`` (frozen once planned, audited)."""

    list_display = [
        "number",
        "title",
        "state",
        "level",
        "release_unit",
        "owner",
        "installation_start",
    ]
    list_filter = ["state", "level", "category"]
    search_fields = ["number", "title"]
    raw_id_fields = ["release_unit", "owner", "created_by"]
    filter_horizontal = ["change_requests"]
    inlines = [ReleaseItemInline, ReleaseTransitionInline]


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ReadOnlyAdmin):
    """Read-only: change requests come from their source system (``change_request_upsert``, which
    orders updates by the source's version) or are entered through the API."""

    list_display = ["number", "title", "source_system", "state", "planned_start", "updated_at"]
    list_filter = ["source_system", "state"]
    search_fields = ["number", "title", "external_id"]


@admin.register(ReleaseCategory)
class ReleaseCategoryAdmin(AuditedAdmin):
    list_display = [
        "name",
        "waives_communication",
        "waives_training",
        "waives_backout_rehearsal",
        "outside_window",
        "four_eyes",
    ]


@admin.register(UnitComponent)
class UnitComponentAdmin(AuditedAdmin):
    list_display = ["unit", "product"]
    raw_id_fields = ["unit", "product"]


@admin.register(FreezeWindow)
class FreezeWindowAdmin(AuditedAdmin):
    list_display = ["start", "end", "scope", "environment", "release_unit", "reason"]
    list_filter = ["scope"]
    raw_id_fields = ["release_unit"]
    readonly_fields = ["created_by"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ReleaseTarget)
class ReleaseTargetAdmin(ReadOnlyAdmin):
    list_display = [
        "release",
        "ci",
        "distribution_state",
        "installation_state",
        "wave",
        "due_at",
        "attempts",
    ]
    list_filter = ["installation_state", "distribution_state"]
    search_fields = ["release__number", "ci__identifier"]
    list_select_related = ["release", "ci"]


@admin.register(DeploymentReport)
class DeploymentReportAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "target", "kind", "status", "acted", "report_id"]
    list_filter = ["kind", "status", "acted"]
    list_select_related = ["target__release", "target__ci"]


@admin.register(BackoutOverride)
class BackoutOverrideAdmin(ReadOnlyAdmin):
    list_display = [
        "release",
        "status",
        "requested_by",
        "requested_at",
        "confirmed_by",
        "confirmed_at",
    ]


@admin.register(VerificationRun)
class VerificationRunAdmin(ReadOnlyAdmin):
    list_display = ["release", "started_at", "passed", "checks_total", "checks_failed"]
