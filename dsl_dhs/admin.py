"""Admin for raw edits of the DSL and DHS. Fields the services own — a version's status,
checksum, size and artefact, stock reserved counts, reservation states, check records — are
read-only here: changing them by hand would bypass the checks and the audit trail. What may be
edited here is saved and deleted with an audit event, as from the pages and the API."""

from django.contrib import admin

from dsl_dhs.models import (
    ArtefactCheck,
    HardwareModel,
    LicenceProduct,
    Location,
    Reservation,
    SoftwareProduct,
    SoftwareVersion,
    Stock,
)
from releasemgmt.core.admin_base import AuditedAdmin, HistoryAdmin, ReadOnlyAdmin


@admin.register(LicenceProduct)
class LicenceProductAdmin(AuditedAdmin):
    list_display = ("name", "vendor")
    search_fields = ("name", "vendor")


@admin.register(SoftwareProduct)
class SoftwareProductAdmin(AuditedAdmin):
    list_display = ("name", "vendor", "licence_product", "created_at")
    list_filter = ("licence_product",)
    search_fields = ("name", "vendor")
    list_select_related = ("licence_product",)
    readonly_fields = ("created_at",)


class ArtefactCheckInline(admin.TabularInline):
    model = ArtefactCheck
    extra = 0
    fields = ("checked_at", "result", "expected_sha256", "found_sha256", "found_size", "detail")
    readonly_fields = fields
    can_delete = False
    max_num = 0
    ordering = ("-checked_at",)


@admin.register(SoftwareVersion)
class SoftwareVersionAdmin(AuditedAdmin, HistoryAdmin):
    list_display = ("product", "version", "status", "size", "authorised_by", "last_checked_at")
    list_filter = ("status", "product")
    search_fields = ("product__name", "version", "sha256")
    list_select_related = ("product", "authorised_by")
    readonly_fields = (
        "artefact",
        "artefact_name",
        "size",
        "sha256",
        "status",
        "status_reason",
        "status_changed_at",
        "authorised_by",
        "authorised_at",
        "created_by",
        "created_at",
        "last_checked_at",
    )
    inlines = [ArtefactCheckInline]

    def has_delete_permission(self, request, obj=None):
        # Authorised and quarantined versions are the library's record: retire them first.
        if obj is not None and obj.status not in ("draft", "retired"):
            return False
        return super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        # The product is part of the artefact's path: fixed once the version exists.
        if obj is not None:
            return ("product", *self.readonly_fields)
        return self.readonly_fields


@admin.register(ArtefactCheck)
class ArtefactCheckAdmin(ReadOnlyAdmin):
    """Read-only: checks are written by the integrity task and the verify action."""

    list_display = ("version", "checked_at", "result", "found_size")
    list_filter = ("result",)
    search_fields = ("version__product__name", "version__version", "found_sha256")
    list_select_related = ("version__product",)
    date_hierarchy = "checked_at"


@admin.register(Location)
class LocationAdmin(AuditedAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


@admin.register(HardwareModel)
class HardwareModelAdmin(AuditedAdmin):
    list_display = ("manufacturer", "name", "part_number", "kind")
    list_filter = ("kind", "manufacturer")
    search_fields = ("manufacturer", "name", "part_number")


@admin.register(Stock)
class StockAdmin(AuditedAdmin):
    list_display = ("hardware_model", "location", "on_hand", "reserved", "updated_at")
    list_filter = ("location", "hardware_model__kind")
    search_fields = ("hardware_model__name", "hardware_model__part_number")
    list_select_related = ("hardware_model", "location")

    def get_readonly_fields(self, request, obj=None):
        # After creation the count moves only through stock_adjust (reason, audit) and
        # reservations; the row itself never moves to another model or location.
        if obj is not None:
            return ("hardware_model", "location", "on_hand", "reserved", "updated_at")
        return ("reserved", "updated_at")


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    """Reservations change ``stock.reserved``: they are made, consumed and returned through the
    services (pages and API), never here."""

    list_display = ("reference", "stock", "quantity", "status", "created_at", "closed_at")
    list_filter = ("status",)
    search_fields = ("reference", "note")
    list_select_related = ("stock__hardware_model", "stock__location")
    readonly_fields = ("stock", "quantity", "status", "created_at", "created_by", "closed_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
