"""Admin pages for webhook sources (secrets shown once, on creation; saves and deletes audited)
and deliveries and callbacks (read-only: they are evidence of what was received and sent).
``releases/admin.py`` calls ``register()``."""

from django.contrib import admin, messages

from releasemgmt.core.admin_base import AuditedAdmin
from releasemgmt.core.services import record_save
from releases.webhooks import services
from releases.webhooks.models import CallbackDelivery, WebhookDelivery, WebhookSecret, WebhookSource


class WebhookSecretInline(admin.TabularInline):
    """Secrets are added by the action below and revoked through the API (a source keeps one
    live secret), both audited."""

    model = WebhookSecret
    fields = ["hint", "active", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # new secrets come from the "Add a signing secret" action (shown once)


class WebhookSourceAdmin(AuditedAdmin):
    list_display = ["name", "adapter", "active", "policy", "callback_url", "created_at"]
    list_filter = ["adapter", "active", "policy"]
    search_fields = ["name"]
    inlines = [WebhookSecretInline]
    actions = ["add_secret"]
    # The callback's Authorization header is sealed by the API and never shown again.
    exclude = ["callback_authorization"]
    readonly_fields = ["created_by", "callback_disabled_reason"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        # A new source gets its first secret through the service, shown this once.
        obj.created_by = request.user
        record_save(instance=obj, actor=request.user, action="webhook_source.create")
        _, plain = services.webhook_secret_add(source=obj, by=request.user)
        messages.warning(request, f"Signing secret of {obj.name} (shown only now): {plain}")

    @admin.action(description="Add a signing secret (rotation)", permissions=["change"])
    def add_secret(self, request, queryset):
        for source in queryset:
            _, plain = services.webhook_secret_add(source=source, by=request.user)
            messages.warning(
                request, f"New signing secret of {source.name} (shown only now): {plain}"
            )


class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["webhook_id", "source", "received_at", "status", "attention", "event_type"]
    list_filter = ["status", "attention", "source"]
    search_fields = ["webhook_id", "outcome"]
    list_select_related = ["source"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Replay (process again)", permissions=["replay"])
    def replay(self, request, queryset):
        for delivery in queryset:
            services.webhook_delivery_replay(delivery=delivery, by=request.user)
        messages.success(request, f"{queryset.count()} deliveries queued for processing again.")

    def has_replay_permission(self, request):
        return request.user.has_perm("releases.replay_webhookdelivery")


class CallbackDeliveryAdmin(admin.ModelAdmin):
    """Read-only: the log of status callbacks sent."""

    list_display = [
        "created_at",
        "release",
        "event",
        "source",
        "status",
        "attempt_count",
        "last_status_code",
    ]
    list_filter = ["status", "source"]
    list_select_related = ["release", "source"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def register(site=admin.site) -> None:
    site.register(WebhookSource, WebhookSourceAdmin)
    site.register(WebhookDelivery, WebhookDeliveryAdmin)
    site.register(CallbackDelivery, CallbackDeliveryAdmin)
