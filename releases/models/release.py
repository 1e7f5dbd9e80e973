"""The release and its state machine.

Transitions only change fields on ``self``; conditions only read. Services (releases/services/)
lock the row, check permission and conditions, call the transition, save and audit."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from dsl_dhs.choices import VersionStatus
from releases.choices import (
    CANCELLABLE_STATES,
    EDITABLE_STATES,
    DistributionMethod,
    InstallationMode,
    Outcome,
    OutsideWindowPolicy,
    ReleaseLevel,
    ReleaseState,
    ReviewOutcome,
    RolloutTaskStatus,
    TestResult,
    Trigger,
)

S = ReleaseState


class ReleaseCategory(models.Model):
    """A policy: which roll-out tasks and which tests a kind of release may skip, whether work
    outside the plan's windows is refused or needs a confirmation, and whether its owner needs a
    second person (four eyes). Waivers come from here, never from a checkbox on the release."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    waives_communication = models.BooleanField(default=False)
    waives_training = models.BooleanField(default=False)
    waives_backout_rehearsal = models.BooleanField(
        default=False,
        help_text="Only for releases whose back-out cannot be rehearsed meaningfully.",
    )
    outside_window = models.CharField(
        max_length=10,
        choices=OutsideWindowPolicy.choices,
        default=OutsideWindowPolicy.CONFIRM,
        help_text="Distributing or installing outside the plan's window: allowed with a "
        "confirmation and a reason (audited), or refused.",
    )
    four_eyes = models.BooleanField(
        default=False,
        help_text="Test sign-off, verification and review by someone other than the release's owner.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "release categories"

    def __str__(self):
        return self.name


class UnitComponent(models.Model):
    """A DSL product that is part of a release unit (a service/application CI). A Full release
    carries every component; Delta and Package releases may only carry components."""

    unit = models.ForeignKey(
        "cmdb.ConfigurationItem", on_delete=models.CASCADE, related_name="release_components"
    )
    product = models.ForeignKey(
        "dsl_dhs.SoftwareProduct", on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["unit__identifier", "product__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "product"], name="releases_unit_component_unique"
            )
        ]

    def __str__(self):
        return f"{self.product} in {self.unit}"


class ReleaseNumberSequence(models.Model):
    """The last number given per year, locked while a new release takes the next one."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last}"


class Release(ConcurrentTransitionMixin, models.Model):
    number = models.CharField(max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    level = models.CharField(max_length=10, choices=ReleaseLevel.choices)
    category = models.ForeignKey(
        ReleaseCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="releases"
    )
    release_unit = models.ForeignKey(
        "cmdb.ConfigurationItem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="releases",
        help_text="The service or application this release changes (required to plan).",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_releases",
    )
    state = FSMField(
        default=S.REQUESTED, choices=ReleaseState.choices, protected=True, db_index=True
    )
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.MANUAL)
    trigger_reference = models.CharField(
        max_length=200, blank=True, help_text="Problem number, milestone, vendor advisory…"
    )
    project_key = models.CharField(max_length=50, blank=True)
    project_url = models.URLField(max_length=500, blank=True)
    change_requests = models.ManyToManyField(
        "releases.ChangeRequest", blank=True, related_name="releases"
    )

    # The plan
    distribution_start = models.DateTimeField(null=True, blank=True)
    distribution_end = models.DateTimeField(null=True, blank=True)
    installation_start = models.DateTimeField(null=True, blank=True)
    installation_end = models.DateTimeField(null=True, blank=True)
    backout_decision_minutes = models.PositiveIntegerField(
        default=30,
        help_text="How long ops have to decide once a failure condition is met; then the back-out starts by itself.",
    )

    # How it is deployed
    distribution_method = models.CharField(
        max_length=20, choices=DistributionMethod.choices, default=DistributionMethod.AGENT_PULL
    )
    deployment_tool = models.CharField(
        max_length=100, blank=True, help_text="The tool's name when it reports back."
    )
    installation_mode = models.CharField(
        max_length=20, choices=InstallationMode.choices, default=InstallationMode.SCHEDULED
    )
    wave_size = models.PositiveIntegerField(
        default=0, help_text="Targets per wave; 0 = all at once."
    )
    wave_interval_minutes = models.PositiveIntegerField(default=15)
    login_threshold = models.PositiveIntegerField(
        default=0,
        help_text="Condition mode: install when the target reports at most this many logins.",
    )

    # Progress, kept incrementally in the same transaction as every report (no scan per report).
    count_targets = models.PositiveIntegerField(
        default=0, help_text="Set with the targets; they do not change once the plan is frozen."
    )
    count_distributed = models.PositiveIntegerField(default=0)
    count_distribution_failed = models.PositiveIntegerField(default=0)
    count_installed = models.PositiveIntegerField(default=0)
    count_install_failed = models.PositiveIntegerField(default=0)
    count_backed_out = models.PositiveIntegerField(default=0)
    count_backout_failed = models.PositiveIntegerField(default=0)

    # Back-out discipline
    backout_required_at = models.DateTimeField(null=True, blank=True)
    backout_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    backout_condition = models.CharField(
        max_length=300, blank=True, help_text="The failure condition that was met."
    )
    backout_figures = models.JSONField(
        default=dict, blank=True, help_text="The figures at the moment it was met."
    )
    backout_started_automatically = models.BooleanField(default=False)

    # How and when the release ended, set by the transition that makes the end final (a review
    # confirms a completed deployment — before it, a back-out can still follow) and never moved:
    # the KPIs count a release in the period of ``ended_at``.
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    installed_at = models.DateTimeField(
        null=True, blank=True, help_text="When every target was installed (the last time)."
    )
    backout_decided_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="When the back-out was approved, started by itself, or overridden.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["release_unit", "state"], name="releases_unit_state"),
            # The release list's default order and its "Updated" column: a page is read from the
            # index instead of sorting every release.
            models.Index(fields=["created_at"], name="releases_created_at"),
            models.Index(fields=["updated_at"], name="releases_updated_at"),
            # "Only mine" and the dashboards' own releases, counted per state from the index.
            models.Index(fields=["owner", "state"], name="releases_owner_state"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(installation_start__isnull=True)
                | models.Q(installation_end__isnull=True)
                | models.Q(installation_end__gt=models.F("installation_start")),
                name="releases_installation_window_order",
                violation_error_message="The installation window must end after it starts.",
            ),
            models.CheckConstraint(
                condition=models.Q(distribution_start__isnull=True)
                | models.Q(distribution_end__isnull=True)
                | models.Q(distribution_end__gt=models.F("distribution_start")),
                name="releases_distribution_window_order",
                violation_error_message="The distribution window must end after it starts.",
            ),
        ]
        permissions = [
            ("plan_release", "Can plan and replan releases"),
            ("build_release", "Can mark releases built"),
            ("test_release", "Can run and sign off release tests"),
            ("accept_release", "Can accept tested releases"),
            ("plan_rollout_release", "Can plan release roll-outs"),
            ("verify_release", "Can verify releases"),
            ("deploy_release", "Can start distribution and installation"),
            ("review_release", "Can review and close releases"),
            ("cancel_release", "Can cancel releases"),
            ("approve_backout", "Can approve a back-out"),
            ("override_backout", "Can confirm a back-out override"),
            ("system_transition", "Can take transitions reserved to the system"),
        ]

    def __str__(self):
        return f"{self.number} {self.title}"

    # Conditions: pure reads, each paired with a method that says what is missing.

    @property
    def is_editable(self) -> bool:
        return self.state in EDITABLE_STATES

    def plan_problems(self) -> list[str]:
        """What the plan still lacks before it can be approved (``plan``)."""
        problems = []
        if self.release_unit_id is None:
            problems.append("Choose the release unit (the service or application released).")
        if not self.items.exists():
            problems.append("Add at least one item to the contents.")
        if not self.targets.exists():
            problems.append("Add at least one target CI.")
        if not (self.distribution_start and self.distribution_end):
            problems.append("Set the distribution window.")
        if not (self.installation_start and self.installation_end):
            problems.append("Set the installation window.")
        elif self.distribution_start and self.installation_start < self.distribution_start:
            problems.append("The installation window cannot start before distribution starts.")
        if not self.backout_steps.exists():
            problems.append("Write the back-out plan (at least one step).")
        if not self.failure_conditions.exists():
            problems.append("Declare at least one failure condition.")
        if self.level == ReleaseLevel.PACKAGE and self.change_requests.count() < 2:
            problems.append("A Package release bundles several change requests: link at least two.")
        if self.level == ReleaseLevel.FULL and self.release_unit_id is not None:
            missing = UnitComponent.objects.filter(unit_id=self.release_unit_id).exclude(
                product_id__in=self.items.filter(software_version__isnull=False).values(
                    "software_version__product_id"
                )
            )
            problems.extend(
                f"A Full release carries every component: {c.product} is missing."
                for c in missing.select_related("product")
            )
        return problems

    def plan_is_complete(self) -> bool:
        return not self.plan_problems()

    def build_problems(self) -> list[str]:
        unauthorised = self.items.filter(software_version__isnull=False).exclude(
            software_version__status=VersionStatus.AUTHORISED
        )
        return [
            f"{item} is not an authorised DSL version."
            for item in unauthorised.select_related("software_version__product")
        ]

    def contents_are_buildable(self) -> bool:
        return not self.build_problems()

    def test_problems(self) -> list[str]:
        open_items = self.test_scope.exclude(result__in=[TestResult.PASSED, TestResult.WAIVED])
        return [f"{item.title}: {item.get_result_display().lower()}" for item in open_items]

    def tests_passed(self) -> bool:
        return self.test_scope.exists() and not self.test_problems()

    def rollout_problems(self) -> list[str]:
        pending = self.rollout_tasks.filter(status=RolloutTaskStatus.PENDING)
        return [f"{task.get_kind_display()}: {task.description} is not done." for task in pending]

    def rollout_tasks_complete(self) -> bool:
        return not self.rollout_problems()

    # Transitions: only fields on self.

    def _entered(self):
        self.state_changed_at = timezone.now()

    def _ended(self, outcome: str):
        self.outcome = outcome
        self.ended_at = self.state_changed_at

    @transition(
        field=state,
        source=S.REQUESTED,
        target=S.PLANNED,
        conditions=[plan_is_complete],
        permission="releases.plan_release",
    )
    def plan(self):
        """Approve the plan: contents, targets, windows, back-out plan and failure conditions."""
        self._entered()

    @transition(
        field=state,
        source=[S.BUILT, S.TESTING, S.VERIFICATION_FAILED],
        target=S.PLANNED,
        permission="releases.plan_release",
    )
    def replan(self):
        """Back to planning: the plan opens for edits; builds and test sign-offs start over."""
        self._entered()

    @transition(
        field=state,
        source=[S.PLANNED, S.VERIFICATION_FAILED],
        target=S.BUILT,
        conditions=[contents_are_buildable],
        permission="releases.build_release",
    )
    def build(self):
        """The release is assembled from authorised DSL versions (and reserved DHS hardware)."""
        self._entered()

    @transition(field=state, source=S.BUILT, target=S.TESTING, permission="releases.test_release")
    def start_tests(self):
        """Testing starts on the test scope computed from the level."""
        self._entered()

    @transition(field=state, source=S.TESTING, target=S.BUILT, permission="releases.test_release")
    def fail_tests(self):
        """Tests failed: back to built for a fix."""
        self._entered()

    @transition(
        field=state,
        source=S.TESTING,
        target=S.ACCEPTED,
        conditions=[tests_passed],
        permission="releases.accept_release",
    )
    def accept(self):
        """Every test-scope item passed (the back-out rehearsal included, unless waived)."""
        self._entered()

    @transition(
        field=state,
        source=S.ACCEPTED,
        target=S.ROLLOUT_PLANNED,
        permission="releases.plan_rollout_release",
    )
    def plan_rollout(self):
        """Communication and training tasks are set (or waived by the category)."""
        self._entered()

    @transition(
        field=state,
        source=S.ROLLOUT_PLANNED,
        target=S.VERIFIED,
        conditions=[rollout_tasks_complete],
        permission="releases.verify_release",
    )
    def verify(self):
        """What is to be released matches the plan, the CMDB and the licences."""
        self._entered()

    @transition(
        field=state,
        source=S.ROLLOUT_PLANNED,
        target=S.VERIFICATION_FAILED,
        permission="releases.system_transition",
    )
    def fail_verification(self):
        """The verification engine found errors (recorded as CMDB/licence errors)."""
        self._entered()

    @transition(
        field=state, source=S.VERIFIED, target=S.DISTRIBUTING, permission="releases.deploy_release"
    )
    def distribute(self):
        self._entered()

    @transition(
        field=state,
        source=S.DISTRIBUTING,
        target=S.DISTRIBUTED,
        permission="releases.system_transition",
    )
    def complete_distribution(self):
        self._entered()

    @transition(
        field=state, source=S.DISTRIBUTED, target=S.INSTALLING, permission="releases.deploy_release"
    )
    def install(self):
        self._entered()

    @transition(
        field=state,
        source=S.INSTALLING,
        target=S.INSTALLED,
        permission="releases.system_transition",
    )
    def complete_installation(self):
        self._entered()
        self.installed_at = self.state_changed_at

    @transition(
        field=state,
        source=[S.DISTRIBUTING, S.INSTALLING, S.INSTALLED],
        target=S.BACKOUT_REQUIRED,
        permission="releases.system_transition",
    )
    def require_backout(self):
        """A failure condition is met: the roll-out halts and ops must decide."""
        self._entered()

    @transition(
        field=state,
        source=S.BACKOUT_REQUIRED,
        target=S.BACKING_OUT,
        permission="releases.approve_backout",
    )
    def approve_backout(self):
        self._entered()
        self.backout_decided_at = self.state_changed_at

    @transition(
        field=state,
        source=S.BACKOUT_REQUIRED,
        target=S.INSTALLING,
        permission="releases.override_backout",
    )
    def override_backout(self):
        """A second person with the override permission continues, with a written reason."""
        self._entered()
        self.backout_decided_at = self.state_changed_at

    @transition(
        field=state,
        source=S.BACKING_OUT,
        target=S.BACKED_OUT,
        permission="releases.system_transition",
    )
    def complete_backout(self):
        self._entered()
        self._ended(Outcome.BACKED_OUT)

    @transition(
        field=state, source=S.INSTALLED, target=S.REVIEWED, permission="releases.review_release"
    )
    def review(self):
        """The post-implementation review is recorded: the deployment ended completed."""
        self._entered()
        self._ended(Outcome.COMPLETED)

    @transition(
        field=state,
        source=[S.REVIEWED, S.BACKED_OUT],
        target=S.CLOSED,
        permission="releases.review_release",
    )
    def close(self):
        """Closed: completed, or backed out (the outcome says which)."""
        self.outcome = Outcome.COMPLETED if self.state == S.REVIEWED else Outcome.BACKED_OUT
        self._entered()

    @transition(
        field=state,
        source=list(CANCELLABLE_STATES),
        target=S.CANCELLED,
        permission="releases.cancel_release",
    )
    def cancel(self):
        self._entered()
        self._ended(Outcome.CANCELLED)


class ReleaseReview(models.Model):
    """The post-implementation review of a completed deployment, written by ``review``."""

    release = models.OneToOneField(
        Release, on_delete=models.CASCADE, related_name="implementation_review"
    )
    outcome = models.CharField(max_length=30, choices=ReviewOutcome.choices)
    went_well = models.TextField(blank=True)
    went_badly = models.TextField(blank=True)
    follow_up_actions = models.JSONField(
        default=list, blank=True, help_text="What is to be done next, one sentence each."
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_by_name = models.CharField(max_length=150)
    reviewed_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.release.number}: {self.get_outcome_display()}"


class ReleaseTransition(models.Model):
    """One transition taken: the release's timeline."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="transitions")
    name = models.CharField(max_length=50)
    source = models.CharField(max_length=30, choices=ReleaseState.choices)
    target = models.CharField(max_length=30, choices=ReleaseState.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    by_name = models.CharField(max_length=150, help_text="“system” when no person acted.")
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        # the dashboards' "halts of the last 7 days" and the timeline of one kind of transition
        indexes = [models.Index(fields=["name", "at"], name="releases_transition_name_at")]

    def __str__(self):
        return f"{self.release.number}: {self.source} → {self.target} by {self.by_name}"
