from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from simple_history.admin import SimpleHistoryAdmin

from releasemgmt.core.models import AuditEvent, Heartbeat


class HistoryAdmin(SimpleHistoryAdmin):
    """simple-history's admin ("History" button) with an address whose id is not a key sent
    back to the list, as the admin's own pages do, instead of failing in the query."""

    def history_view(self, request, object_id, extra_context=None):
        try:
            self.model._meta.pk.to_python(unquote(object_id))
        except ValidationError:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        return super().history_view(request, object_id, extra_context=extra_context)


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
