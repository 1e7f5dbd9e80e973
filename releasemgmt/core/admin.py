from django.contrib import admin

from releasemgmt.core.models import AuditEvent, Heartbeat


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is written by services, never edited."""

    list_display = ("occurred_at", "actor_name", "action", "object_repr", "reason")
    list_filter = ("action",)
    search_fields = ("actor_name", "action", "object_repr", "reason")
    date_hierarchy = "occurred_at"
    list_select_related = ("content_type",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("component", "last_seen", "detail")

    def has_add_permission(self, request):
        return False
