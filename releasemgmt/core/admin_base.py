"""Base classes for the admin of every domain app: records the admin may not touch (evidence,
and rows that only transitions and services write), and records it edits with an audit event
like the services' (``record_save`` / ``record_delete``)."""

from django.contrib import admin

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
