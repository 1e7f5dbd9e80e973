from django.db import models


class ReleaseState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    PLANNED = "planned", "Planned"
    BUILT = "built", "Built"
    TESTING = "testing", "Testing"
    ACCEPTED = "accepted", "Accepted"
    ROLLOUT_PLANNED = "rollout_planned", "Roll-out planned"
    VERIFIED = "verified", "Verified"
    VERIFICATION_FAILED = "verification_failed", "Verification failed"
    DISTRIBUTING = "distributing", "Distributing"
    DISTRIBUTED = "distributed", "Distributed"
    INSTALLING = "installing", "Installing"
    INSTALLED = "installed", "Installed"
    REVIEWED = "reviewed", "Reviewed"
    CLOSED = "closed", "Closed"
    BACKOUT_REQUIRED = "backout_required", "Back-out required"
    BACKING_OUT = "backing_out", "Backing out"
    BACKED_OUT = "backed_out", "Backed out"
    CANCELLED = "cancelled", "Cancelled"


# The plan (contents, targets, windows, back-out plan, failure conditions) may be edited only here;
# afterwards it changes only through `replan`, which sends the release back to `planned`.
EDITABLE_STATES = frozenset({ReleaseState.REQUESTED, ReleaseState.PLANNED})
CANCELLABLE_STATES = (
    ReleaseState.REQUESTED,
    ReleaseState.PLANNED,
    ReleaseState.BUILT,
    ReleaseState.TESTING,
    ReleaseState.ACCEPTED,
    ReleaseState.ROLLOUT_PLANNED,
    ReleaseState.VERIFIED,
    ReleaseState.VERIFICATION_FAILED,
)
FINAL_STATES = frozenset({ReleaseState.CLOSED, ReleaseState.CANCELLED})


class ReleaseLevel(models.TextChoices):
    DELTA = "delta", "Delta"
    PACKAGE = "package", "Package"
    FULL = "full", "Full"


class Trigger(models.TextChoices):
    CHANGE_REQUEST = "change_request", "Change request"
    PROBLEM = "problem", "Problem record"
    PROJECT_MILESTONE = "project_milestone", "Project milestone"
    VENDOR_UPDATE = "vendor_update", "Vendor update"
    MANUAL = "manual", "Manual request"


class ItemKind(models.TextChoices):
    SOFTWARE = "software", "Software (DSL version)"
    HARDWARE = "hardware", "Hardware (DHS model)"


class FailureConditionKind(models.TextChoices):
    FAILURE_RATE_ABOVE = "failure_rate_above", "Failure rate above a percentage"
    FAILED_TARGETS_AT_LEAST = "failed_targets_at_least", "Failed targets reach a count"
    WINDOW_ENDED_WITH_PENDING = (
        "window_ended_with_pending",
        "Installation window ended with targets not installed",
    )
    HEALTH_SIGNAL_FAILED = "health_signal_failed", "External health signal failed"


class TestKind(models.TextChoices):
    CHANGED_ITEM = "changed_item", "Changed item"
    COMPONENT = "component", "Component (regression)"
    INTEGRATION = "integration", "Integration check"
    BACKOUT_REHEARSAL = "backout_rehearsal", "Back-out rehearsal"


class TestResult(models.TextChoices):
    PENDING = "pending", "Pending"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    WAIVED = "waived", "Waived by category policy"


class RolloutTaskKind(models.TextChoices):
    COMMUNICATION = "communication", "Communication"
    TRAINING = "training", "Training"


class RolloutTaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    WAIVED = "waived", "Waived by category policy"


class OutsideWindowPolicy(models.TextChoices):
    """What a release category says of distributing or installing outside the plan's window."""

    CONFIRM = "confirm", "Allowed with a confirmation and a reason"
    REFUSE = "refuse", "Refused"


class ReviewOutcome(models.TextChoices):
    """The post-implementation review's verdict on a completed deployment."""

    SUCCESSFUL = "successful", "Successful"
    PARTIALLY_SUCCESSFUL = "partially_successful", "Partially successful"
    FAILED = "failed", "Failed"


class Outcome(models.TextChoices):
    COMPLETED = "completed", "Completed"
    BACKED_OUT = "backed_out", "Backed out"
    CANCELLED = "cancelled", "Cancelled"


class DistributionState(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class InstallationState(models.TextChoices):
    PENDING = "pending", "Pending"
    SCHEDULED = "scheduled", "Scheduled"
    WAITING = "waiting", "Waiting for condition"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    HALTED = "halted", "Halted"
    BACKING_OUT = "backing_out", "Backing out"
    BACKED_OUT = "backed_out", "Backed out"
    BACKOUT_FAILED = "backout_failed", "Back-out failed"


# Installations that a met failure condition stops at once.
HALTABLE_INSTALLATION_STATES = (
    InstallationState.PENDING,
    InstallationState.SCHEDULED,
    InstallationState.WAITING,
)


class DistributionMethod(models.TextChoices):
    AGENT_PULL = (
        "agent_pull",
        "Agent pull (the target downloads from the DSL and checks the checksum)",
    )
    DEPLOYMENT_TOOL = "deployment_tool", "External deployment tool (reports back)"


class InstallationMode(models.TextChoices):
    SCHEDULED = "scheduled", "At a due time inside the window, in waves"
    CONDITION = "condition", "When the target's login count is at or below a threshold"
    MANUAL = "manual", "On manual trigger"


class ReportKind(models.TextChoices):
    DISTRIBUTION = "distribution", "Distribution"
    INSTALLATION = "installation", "Installation"
    BACKOUT = "backout", "Back-out"


class FreezeScope(models.TextChoices):
    EVERYTHING = "everything", "Everything"
    ENVIRONMENT = "environment", "One environment"
    RELEASE_UNIT = "release_unit", "One release unit"


class OverrideStatus(models.TextChoices):
    REQUESTED = "requested", "Awaiting confirmation"
    CONFIRMED = "confirmed", "Confirmed"
    WITHDRAWN = "withdrawn", "Withdrawn"
