from django.db import models
from django.db.models.functions import Upper

# Change-management systems spell it either way, in any case.
CANCELLED_CHANGE = models.Q(state__iexact="cancelled") | models.Q(state__iexact="canceled")


class ChangeRequestQuerySet(models.QuerySet):
    def cancelled(self):
        return self.filter(CANCELLED_CHANGE)

    def not_cancelled(self):
        return self.exclude(CANCELLED_CHANGE)


class ChangeRequest(models.Model):
    """A change from a change-management system (or entered by hand), linked to the releases
    that implement it. ``raw`` keeps the record as the source sent it."""

    source_system = models.CharField(
        max_length=100, help_text="e.g. “servicenow-prod”, “jira”, “manual”."
    )
    external_id = models.CharField(
        max_length=100, help_text="The source system's own id (sys_id, issue id…)."
    )
    number = models.CharField(
        max_length=50, db_index=True, help_text="What people call it: CHG0031234, OPS-812."
    )
    title = models.CharField(max_length=300)
    state = models.CharField(max_length=50, blank=True)
    change_type = models.CharField(max_length=50, blank=True)
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_end = models.DateTimeField(null=True, blank=True)
    url = models.URLField(max_length=500, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    # The source's modification counter/timestamp: an older delivery never overwrites newer data.
    source_version = models.CharField(max_length=100, blank=True)
    approved_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the source first reported it approved: where the lead time to installed starts.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ChangeRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # "releases of cancelled changes" matches the state without regard to case
        indexes = [models.Index(Upper("state"), name="releases_change_state_upper")]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "external_id"],
                name="releases_change_unique_external",
                violation_error_message="This change request is already recorded for that source.",
            )
        ]

    def __str__(self):
        return f"{self.number} {self.title}"

    @property
    def is_cancelled(self) -> bool:
        return self.state.lower() in ("cancelled", "canceled")
