"""Admin for raw data. Releases move only through their transitions (the state is read-only here);
reports, overrides, verification runs and the timeline are evidence and are not edited."""

from django.contrib import admin

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


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReleaseItemInline(admin.TabularInline):
    model = ReleaseItem
    extra = 0
    raw_id_fields = [
        "software_version",
        "replaces_version",
        "restore_version",
        "hardware_model",
        "change_request",
    ]


class ReleaseTransitionInline(admin.TabularInline):
    model = ReleaseTransition
    extra = 0
    fields = ["at", "name", "source", "target", "by_name", "reason"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
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
    readonly_fields = [
        "number",
        "state",
        "outcome",
        "state_changed_at",
        "backout_required_at",
        "backout_deadline",
        "backout_condition",
        "backout_figures",
    ]
    raw_id_fields = ["release_unit", "owner", "created_by"]
    filter_horizontal = ["change_requests"]
    inlines = [ReleaseItemInline, ReleaseTransitionInline]


@admin.register(ChangeRequest)
class ChangeRequestAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "source_system", "state", "planned_start", "updated_at"]
    list_filter = ["source_system", "state"]
    search_fields = ["number", "title", "external_id"]


@admin.register(ReleaseCategory)
class ReleaseCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "waives_communication", "waives_training", "waives_backout_rehearsal"]


@admin.register(UnitComponent)
class UnitComponentAdmin(admin.ModelAdmin):
    list_display = ["unit", "product"]
    raw_id_fields = ["unit", "product"]


@admin.register(FreezeWindow)
class FreezeWindowAdmin(admin.ModelAdmin):
    list_display = ["start", "end", "scope", "environment", "release_unit", "reason"]
    list_filter = ["scope"]
    raw_id_fields = ["release_unit", "created_by"]


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
