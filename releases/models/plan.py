"""What a release contains and how it is to be done: items, targets, failure conditions, the
back-out plan, the test scope and the roll-out tasks."""

from django.conf import settings
from django.db import models

from releases.choices import (
    DistributionState,
    FailureConditionKind,
    InstallationState,
    ItemKind,
    RolloutTaskKind,
    RolloutTaskStatus,
    TestKind,
    TestResult,
)


class ReleaseItem(models.Model):
    """A DSL version (with the version it replaces and the one a back-out restores) or a quantity
    of a DHS hardware model."""

    release = models.ForeignKey("releases.Release", on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=10, choices=ItemKind.choices, default=ItemKind.SOFTWARE)
    software_version = models.ForeignKey(
        "dsl_dhs.SoftwareVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="release_items",
    )
    replaces_version = models.ForeignKey(
        "dsl_dhs.SoftwareVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The version the targets are expected to have before (the baseline by default).",
    )
    restore_version = models.ForeignKey(
        "dsl_dhs.SoftwareVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="What a back-out restores (the replaced version by default).",
    )
    hardware_model = models.ForeignKey(
        "dsl_dhs.HardwareModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField(default=1)
    change_request = models.ForeignKey(
        "releases.ChangeRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="items",
        help_text="The bundled change this item belongs to (Package releases).",
    )
    changed = models.BooleanField(default=True, help_text="Differs from the baseline (computed).")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(
                        kind=ItemKind.SOFTWARE,
                        software_version__isnull=False,
                        hardware_model__isnull=True,
                    )
                )
                | (
                    models.Q(
                        kind=ItemKind.HARDWARE,
                        hardware_model__isnull=False,
                        software_version__isnull=True,
                    )
                ),
                name="releases_item_kind_matches",
                violation_error_message="A software item names a DSL version; a hardware item names a DHS model.",
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="releases_item_quantity_positive"
            ),
        ]

    def __str__(self):
        if self.kind == ItemKind.SOFTWARE:
            return str(self.software_version)
        return f"{self.quantity} x {self.hardware_model}"


class ReleaseTarget(models.Model):
    """A CI the release is deployed to, with its distribution and installation progress."""

    # No index of their own: each leads a composite index below (the unique release + CI, CI +
    # state), and a target is rewritten on every report, with each of its indexes.
    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="targets", db_index=False
    )
    ci = models.ForeignKey(
        "cmdb.ConfigurationItem",
        on_delete=models.PROTECT,
        related_name="release_targets",
        db_index=False,
    )
    distribution_state = models.CharField(
        max_length=20, choices=DistributionState.choices, default=DistributionState.PENDING
    )
    installation_state = models.CharField(
        max_length=20, choices=InstallationState.choices, default=InstallationState.PENDING
    )
    wave = models.PositiveIntegerField(default=1)
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the installation is due (scheduled mode)."
    )
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the picker released it to run."
    )
    attempts = models.PositiveIntegerField(default=0)
    distributed_at = models.DateTimeField(null=True, blank=True)
    installed_at = models.DateTimeField(null=True, blank=True)
    backed_out_at = models.DateTimeField(null=True, blank=True)
    last_report_at = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True, help_text="The last message reported for this target.")

    class Meta:
        ordering = ["ci__identifier"]
        constraints = [
            models.UniqueConstraint(fields=["release", "ci"], name="releases_target_unique")
        ]
        indexes = [
            models.Index(fields=["installation_state", "due_at"], name="releases_target_due"),
            models.Index(fields=["ci", "installation_state"], name="releases_target_ci_state"),
            # The deployment table's order (wave, then CI): a page joins one wave's targets to
            # their CIs, not all of a release's 10,000.
            models.Index(fields=["release", "wave"], name="releases_target_release_wave"),
            # A release's latest target report (the dashboards' stuck check) without reading
            # every one of its targets.
            models.Index(fields=["release", "last_report_at"], name="releases_target_last_report"),
        ]
        permissions = [("report_deployment", "Can fetch agent work and report deployment results")]

    def __str__(self):
        return f"{self.release.number} → {self.ci}"


class FailureCondition(models.Model):
    """A declared condition that, once met, requires the back-out."""

    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="failure_conditions"
    )
    kind = models.CharField(max_length=40, choices=FailureConditionKind.choices)
    threshold = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Percentage for a failure rate, a count for failed targets; unused otherwise.",
    )
    parameters = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"signal": "billing-synthetic-check"}'
    )
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        if self.kind == FailureConditionKind.FAILURE_RATE_ABOVE:
            return f"failure rate above {self.threshold}%"
        if self.kind == FailureConditionKind.FAILED_TARGETS_AT_LEAST:
            return f"{self.threshold:.0f} or more targets failed"
        if self.kind == FailureConditionKind.HEALTH_SIGNAL_FAILED:
            return f"health signal “{self.parameters.get('signal', '?')}” failed"
        return self.get_kind_display().lower()


class BackoutStep(models.Model):
    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="backout_steps"
    )
    position = models.PositiveIntegerField()
    description = models.TextField()

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.position}. {self.description[:60]}"


class TestScopeItem(models.Model):
    """One thing to test before acceptance, with its sign-off."""

    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="test_scope"
    )
    kind = models.CharField(max_length=20, choices=TestKind.choices)
    item = models.ForeignKey(
        ReleaseItem, null=True, blank=True, on_delete=models.CASCADE, related_name="tests"
    )
    title = models.CharField(max_length=300)
    result = models.CharField(max_length=10, choices=TestResult.choices, default=TestResult.PENDING)
    evidence = models.TextField(blank=True, help_text="Link or note: what shows the result.")
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "id"]

    def __str__(self):
        return self.title


class RolloutTask(models.Model):
    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="rollout_tasks"
    )
    kind = models.CharField(max_length=20, choices=RolloutTaskKind.choices)
    description = models.CharField(max_length=300)
    status = models.CharField(
        max_length=10, choices=RolloutTaskStatus.choices, default=RolloutTaskStatus.PENDING
    )
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "id"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.description}"
