from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from cmdb.choices import InstallSource, LicenceMetric


class Licence(models.Model):
    """Entitlements for a licence product. Seats in use are never typed: they are counted from the
    installed software that consumes this licence (``cmdb.selectors.licences_with_usage``)."""

    licence_product = models.ForeignKey(
        "dsl_dhs.LicenceProduct", on_delete=models.PROTECT, related_name="licences"
    )
    name = models.CharField(
        max_length=200, help_text="How people refer to it, e.g. “M365 E3 — 2026 renewal”."
    )
    metric = models.CharField(
        max_length=20, choices=LicenceMetric.choices, default=LicenceMetric.PER_DEVICE
    )
    seats = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty only for site licences."
    )
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    vendor = models.CharField(max_length=200, blank=True)
    contract_reference = models.CharField(max_length=100, blank=True)
    low_seat_threshold = models.PositiveIntegerField(
        default=0, help_text="Alert when this many seats or fewer are free."
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["licence_product__name", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(metric=LicenceMetric.SITE) | models.Q(seats__isnull=False),
                name="cmdb_licence_seats_unless_site",
                violation_error_message="Give the number of seats (only site licences have none).",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_from__isnull=True)
                | models.Q(valid_until__isnull=True)
                | models.Q(valid_until__gte=models.F("valid_from")),
                name="cmdb_licence_valid_range",
                violation_error_message="The licence cannot end before it starts.",
            ),
        ]

    def __str__(self):
        return self.name


class InstalledSoftware(models.Model):
    """A DSL version installed on a CI, since when and put there by what. Rows are never deleted:
    a removal sets ``removed_at``, so the CMDB knows the previous version a back-out restores."""

    ci = models.ForeignKey(
        "cmdb.ConfigurationItem", on_delete=models.CASCADE, related_name="installed_software"
    )
    product = models.ForeignKey(
        "dsl_dhs.SoftwareProduct", on_delete=models.PROTECT, related_name="+"
    )
    version = models.ForeignKey(
        "dsl_dhs.SoftwareVersion", on_delete=models.PROTECT, related_name="installations"
    )
    licence = models.ForeignKey(
        Licence, null=True, blank=True, on_delete=models.PROTECT, related_name="installations"
    )
    installed_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(
        max_length=20, choices=InstallSource.choices, default=InstallSource.MANUAL
    )
    source_reference = models.CharField(
        max_length=100, blank=True, help_text="Release number, import file, agent id…"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["ci__identifier", "product__name", "-installed_at"]
        verbose_name_plural = "installed software"
        constraints = [
            models.UniqueConstraint(
                fields=["ci", "product"],
                condition=models.Q(removed_at__isnull=True),
                name="cmdb_installed_one_version_per_product",
                violation_error_message="This CI already has a version of this product installed.",
            ),
            models.CheckConstraint(
                condition=models.Q(removed_at__isnull=True)
                | models.Q(removed_at__gte=models.F("installed_at")),
                name="cmdb_installed_removed_after_installed",
            ),
        ]
        indexes = [
            models.Index(
                fields=["licence"],
                condition=models.Q(removed_at__isnull=True),
                name="cmdb_installed_active_licence",
            ),
        ]

    def __str__(self):
        return f"{self.version} on {self.ci}"

    @property
    def is_current(self) -> bool:
        return self.removed_at is None
