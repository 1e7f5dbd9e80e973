"""Deployment records: freeze windows, agent status, reports from agents and deployment tools,
verification runs, and back-out overrides."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from cmdb.choices import Environment
from releases.choices import FreezeScope, OverrideStatus, ReportKind


class FreezeWindow(models.Model):
    """A period in which no installation may be scheduled or started (in its scope). An emergency
    override needs `releases.override_freeze` and a reason, and is audited."""

    start = models.DateTimeField()
    end = models.DateTimeField()
    scope = models.CharField(
        max_length=20, choices=FreezeScope.choices, default=FreezeScope.EVERYTHING
    )
    environment = models.CharField(max_length=20, choices=Environment.choices, blank=True)
    release_unit = models.ForeignKey(
        "cmdb.ConfigurationItem",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="freeze_windows",
    )
    reason = models.CharField(max_length=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")),
                name="releases_freeze_end_after_start",
                violation_error_message="A freeze window must end after it starts.",
            ),
            models.CheckConstraint(
                condition=models.Q(scope=FreezeScope.EVERYTHING)
                | (models.Q(scope=FreezeScope.ENVIRONMENT) & ~models.Q(environment=""))
                | (models.Q(scope=FreezeScope.RELEASE_UNIT) & models.Q(release_unit__isnull=False)),
                name="releases_freeze_scope_complete",
                violation_error_message="Name the environment or the release unit the freeze applies to.",
            ),
        ]
        permissions = [
            ("override_freeze", "Can start installations inside a freeze window (emergency)")
        ]

    def __str__(self):
        return f"Freeze {self.start:%Y-%m-%d %H:%M}–{self.end:%Y-%m-%d %H:%M}: {self.reason}"


class AgentStatus(models.Model):
    """What a target's agent last said: it is alive, and how many users are logged in."""

    ci = models.OneToOneField(
        "cmdb.ConfigurationItem", on_delete=models.CASCADE, related_name="agent_status"
    )
    last_seen = models.DateTimeField()
    login_count = models.PositiveIntegerField(null=True, blank=True)
    agent_version = models.CharField(max_length=50, blank=True)

    class Meta:
        verbose_name_plural = "agent statuses"

    def __str__(self):
        return f"{self.ci} seen {self.last_seen:%Y-%m-%d %H:%M}"


class DeploymentReport(models.Model):
    """One result reported for a target. ``report_id`` makes a repeated report harmless;
    ``acted`` is false for a report recorded but not acted on (the release had halted)."""

    # No index of its own: it leads the unique (target, kind, report_id) index.
    target = models.ForeignKey(
        "releases.ReleaseTarget", on_delete=models.CASCADE, related_name="reports", db_index=False
    )
    kind = models.CharField(max_length=20, choices=ReportKind.choices)
    report_id = models.CharField(max_length=100)
    status = models.CharField(max_length=20)
    detail = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    acted = models.BooleanField(default=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["target", "kind", "report_id"], name="releases_report_unique_id"
            )
        ]

    def __str__(self):
        return f"{self.kind} {self.status} for {self.target_id} ({self.report_id})"


class VerificationRun(models.Model):
    """One run of the verification engine: every check with what was expected and found."""

    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="verification_runs"
    )
    started_at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    passed = models.BooleanField(default=False)
    checks_total = models.PositiveIntegerField(default=0)
    checks_failed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"Verification of {self.release_id} at {self.started_at:%Y-%m-%d %H:%M}: {'passed' if self.passed else 'failed'}"


class VerificationCheck(models.Model):
    run = models.ForeignKey(VerificationRun, on_delete=models.CASCADE, related_name="checks")
    kind = models.CharField(max_length=40)
    subject = models.CharField(max_length=200)
    ok = models.BooleanField()
    expected = models.TextField(blank=True)
    found = models.TextField(blank=True)
    discrepancy = models.ForeignKey(
        "cmdb.Discrepancy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["ok", "kind", "id"]

    def __str__(self):
        return f"{self.kind} {self.subject}: {'ok' if self.ok else 'failed'}"


class BackoutOverride(models.Model):
    """A request to continue despite a met failure condition: one person asks with a written
    reason, a different person with the override permission confirms. Counted as a KPI."""

    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="overrides"
    )
    status = models.CharField(
        max_length=20, choices=OverrideStatus.choices, default=OverrideStatus.REQUESTED
    )
    reason = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["release"],
                condition=models.Q(status=OverrideStatus.REQUESTED),
                name="releases_one_open_override",
                violation_error_message="An override is already awaiting confirmation for this release.",
            ),
            models.CheckConstraint(
                condition=models.Q(confirmed_by__isnull=True)
                | ~models.Q(confirmed_by=models.F("requested_by")),
                name="releases_override_second_person",
                violation_error_message="Nobody confirms their own override.",
            ),
        ]

    def __str__(self):
        return f"Override of {self.release_id} by {self.requested_by_id} ({self.status})"
