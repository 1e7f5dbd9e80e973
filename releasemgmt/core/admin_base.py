"""Base classes for the admin of every domain app: records the admin may not touch (evidence,
and rows that only transitions and services write), and records it edits with an audit event
like the services' (``record_save`` / ``record_delete``)."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from simple_history.admin import SimpleHistoryAdmin

from releasemgmt.core.services import record_delete, record_save


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditedAdmin(admin.ModelAdmin):
    """Saves and deletes go through ``record_save`` / ``record_delete``: validated, with an audit
    event naming the person and the changed fields, as from the pages and the API."""

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user  # simple-history's record names the person too
        record_save(instance=obj, actor=request.user)

    def delete_model(self, request, obj):
        record_delete(instance=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            record_delete(instance=obj, actor=request.user)


class HistoryAdmin(SimpleHistoryAdmin):
    """simple-history's admin ("History" button) with an address whose id is not a key sent
    back to the list, as the admin's own pages do, instead of failing in the query."""

    def history_view(self, request, object_id, extra_context=None):
        try:
            self.model._meta.pk.to_python(unquote(object_id))
        except ValidationError:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        return super().history_view(request, object_id, extra_context=extra_context)
