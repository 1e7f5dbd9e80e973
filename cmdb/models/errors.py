from django.conf import settings
from django.db import models

from cmdb.choices import ErrorCategory, ErrorKind, ErrorSource


class Discrepancy(models.Model):
    """A CMDB error or a licence error: what was expected, what was found, where and by which
    check — and how it was resolved. Counted by two of the four process KPIs.

    ``fingerprint`` names the problem (kind + object); at most one open record exists per
    fingerprint, so a check that runs every hour does not pile up duplicates."""

    category = models.CharField(max_length=20, choices=ErrorCategory.choices, db_index=True)
    kind = models.CharField(max_length=30, choices=ErrorKind.choices, db_index=True)
    source = models.CharField(max_length=20, choices=ErrorSource.choices, db_index=True)
    ci = models.ForeignKey(
        "cmdb.ConfigurationItem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="discrepancies",
    )
    licence = models.ForeignKey(
        "cmdb.Licence",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="discrepancies",
    )
    software_version = models.ForeignKey(
        "dsl_dhs.SoftwareVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    subject = models.CharField(
        max_length=200, help_text="What it is about, kept even if the object goes."
    )
    expected = models.TextField(blank=True)
    found = models.TextField(blank=True)
    reference = models.CharField(
        max_length=100, blank=True, help_text="Release number, import file, agent id…"
    )
    fingerprint = models.CharField(max_length=255)
    detected_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.TextField(blank=True)
    # Any change (a resolution, a reopening) tells the KPI rollup which periods to recompute.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        verbose_name_plural = "discrepancies"
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=models.Q(resolved_at__isnull=True),
                name="cmdb_discrepancy_one_open_per_fingerprint",
            )
        ]
        indexes = [
            models.Index(fields=["category", "detected_at"], name="cmdb_discrepancy_cat_detected")
        ]
        permissions = [("resolve_discrepancy", "Can resolve CMDB and licence errors")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
