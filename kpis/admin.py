from django.contrib import admin

from kpis.models import KpiRollupState, KpiTarget


@admin.register(KpiTarget)
class KpiTargetAdmin(admin.ModelAdmin):
    """Admins set what good looks like; the KPI page shows each value green or red against it."""

    list_display = ["kpi", "value", "note", "updated_at"]
    fields = ["kpi", "value", "note"]


@admin.register(KpiRollupState)
class KpiRollupStateAdmin(admin.ModelAdmin):
    """When the rollup last ran and how long it took (read only: the rollup owns it)."""

    list_display = ["last_run_at", "last_run_seconds", "last_periods", "last_full_at", "watermark"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
