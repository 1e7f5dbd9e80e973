"""KPI snapshots, targets and the rollup's bookkeeping.

A snapshot row holds every measure of one cell: one period (a UTC day, ISO week or month) × the
release's level, unit, environment and category (× the error source for CMDB and licence errors).
Counts are additive, so a page sums the rows its filters select; durations keep their samples, so
a median over any selection is exact. Pages, the API and /metrics read snapshots only."""

from django.db import models

from kpis.definitions import KPI_CHOICES, PeriodKind


class KpiSnapshot(models.Model):
    period = models.CharField(max_length=5, choices=PeriodKind.choices)
    start = models.DateField(help_text="The period's first day (UTC).")
    level = models.CharField(max_length=10, blank=True)
    unit = models.ForeignKey(
        "cmdb.ConfigurationItem",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    environment = models.CharField(max_length=20, blank=True)
    category = models.ForeignKey(
        "releases.ReleaseCategory",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    source = models.CharField(max_length=20, blank=True, help_text="Errors only: who found it.")

    # Releases, by the time they ended (ended_at).
    releases_completed = models.PositiveIntegerField(default=0)
    releases_backed_out = models.PositiveIntegerField(default=0)
    releases_cancelled = models.PositiveIntegerField(default=0)
    targets_total = models.PositiveIntegerField(default=0)
    targets_backed_out = models.PositiveIntegerField(default=0)
    targets_attempted = models.PositiveIntegerField(default=0)
    targets_installed = models.PositiveIntegerField(default=0)
    targets_on_schedule = models.PositiveIntegerField(default=0)
    lead_time_seconds = models.JSONField(null=True, blank=True)
    restore_seconds = models.JSONField(null=True, blank=True)
    # Discipline, by the time of the request, the confirmation or the decision.
    overrides_requested = models.PositiveIntegerField(default=0)
    overrides_confirmed = models.PositiveIntegerField(default=0)
    backouts_decided = models.PositiveIntegerField(default=0)
    backouts_automatic = models.PositiveIntegerField(default=0)
    decision_seconds = models.JSONField(null=True, blank=True)
    # CMDB and licence errors, by the time they were found (detected_at).
    cmdb_errors_found = models.PositiveIntegerField(default=0)
    cmdb_errors_resolved = models.PositiveIntegerField(default=0)
    licence_errors_found = models.PositiveIntegerField(default=0)
    licence_errors_resolved = models.PositiveIntegerField(default=0)

    computed_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["period", "start"], name="kpis_snapshot_period_start"),
        ]

    def __str__(self):
        return f"{self.period} {self.start} {self.level or '*'}/{self.unit_id or '*'}"


class KpiTarget(models.Model):
    """What good looks like for one KPI (e.g. back-outs ≤ 5 %), set by an admin. The KPI page
    shows the current value green when it meets the target, red when it does not."""

    kpi = models.CharField(max_length=40, choices=KPI_CHOICES, unique=True)
    value = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="In the KPI's own unit: per cent, count, per day, minutes or hours.",
    )
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kpi"]

    def __str__(self):
        return f"{self.get_kpi_display()}: {self.value}"


class KpiDirtyPeriod(models.Model):
    """A period whose figures changed after it was rolled up (a late report, a resolved or
    reopened error, a request to recompute). The next rollup recomputes exactly these."""

    period = models.CharField(max_length=5, choices=PeriodKind.choices)
    start = models.DateField()
    marked_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["period", "start"], name="kpis_dirty_period_unique")
        ]

    def __str__(self):
        return f"{self.period} {self.start}"


class KpiRollupState(models.Model):
    """One row: how far the rollup has looked for changed records (its watermark)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    watermark = models.DateTimeField(null=True, blank=True)
    last_full_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_seconds = models.FloatField(null=True, blank=True)
    last_periods = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"KPI rollup up to {self.watermark}"
