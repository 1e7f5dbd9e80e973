"""Admin for raw edits of the CMDB, audited like the services' edits. CIs, licences and
relationships keep their simple-history records (the "History" button). Seats in use are
derived, so they are shown, never edited; installed software (recorded by agents, imports and
releases, with its licence allocation) and errors (resolved with a reason) are written by their
services only, so they are shown here, never changed."""

from django.contrib import admin

from cmdb.models import ConfigurationItem, Discrepancy, InstalledSoftware, Licence, Relationship
from cmdb.selectors import licences_with_usage
from releasemgmt.core.admin_base import AuditedAdmin, HistoryAdmin, ReadOnlyAdmin


class OutgoingInline(admin.TabularInline):
    model = Relationship
    fk_name = "source"
    extra = 0
    raw_id_fields = ("target",)
    verbose_name = "relationship (this item → other)"
    verbose_name_plural = "relationships (this item → other)"


@admin.register(ConfigurationItem)
class ConfigurationItemAdmin(AuditedAdmin, HistoryAdmin):
    list_display = ("identifier", "name", "kind", "status", "environment", "location", "owner")
    list_filter = ("kind", "status", "environment", "location")
    search_fields = ("identifier", "name", "owner")
    list_select_related = ("location", "hardware_model")
    readonly_fields = ("created_at", "updated_at")
    raw_id_fields = ("hardware_model",)
    inlines = [OutgoingInline]


@admin.register(Relationship)
class RelationshipAdmin(AuditedAdmin, HistoryAdmin):
    list_display = ("source", "kind", "target", "created_at")
    list_filter = ("kind",)
    search_fields = ("source__identifier", "target__identifier")
    list_select_related = ("source", "target")
    raw_id_fields = ("source", "target")


@admin.register(Licence)
class LicenceAdmin(AuditedAdmin, HistoryAdmin):
    list_display = (
        "name",
        "licence_product",
        "metric",
        "seats",
        "seats_in_use",
        "low_seat_threshold",
        "valid_until",
    )
    list_filter = ("metric", "licence_product")
    search_fields = ("name", "vendor", "contract_reference", "licence_product__name")
    readonly_fields = ("created_at", "seats_in_use")

    def get_queryset(self, request):
        return licences_with_usage(super().get_queryset(request))

    @admin.display(description="seats in use", ordering="seats_in_use")
    def seats_in_use(self, licence):
        return getattr(licence, "seats_in_use", None)


@admin.register(InstalledSoftware)
class InstalledSoftwareAdmin(ReadOnlyAdmin):
    list_display = ("ci", "product", "version", "licence", "installed_at", "removed_at", "source")
    list_filter = ("source", "product")
    search_fields = ("ci__identifier", "product__name", "version__version", "source_reference")
    list_select_related = ("ci", "product", "version__product", "licence")
    raw_id_fields = ("ci", "version", "licence", "recorded_by")
    date_hierarchy = "installed_at"


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    list_display = ("kind", "subject", "source", "detected_at", "resolved_at", "resolved_by")
    list_filter = ("category", "kind", "source", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("subject", "expected", "found", "reference", "fingerprint")
    list_select_related = ("resolved_by",)
    raw_id_fields = ("ci", "licence", "software_version", "resolved_by")
    date_hierarchy = "detected_at"
    readonly_fields = ("fingerprint", "detected_at")
